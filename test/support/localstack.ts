import { type ChildProcess, execFile, type StdioOptions, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '#lib/db/embedded.ts';

const run = promisify(execFile);

/** The last LocalStack release that starts without an account token; the venv is keyed by it. */
export const LOCALSTACK_VERSION = '4.14.0';

/**
 * What pip installs. Newer releases of the four pinned companions break LocalStack 4.14.0 at
 * start (see ../shared/DEPENDENCIES.md), so they are held where they work.
 */
export const LOCALSTACK_REQUIREMENTS = [
  `localstack-core[runtime]==${LOCALSTACK_VERSION}`,
  'cbor2<5.7',
  'pyopenssl==25.1.0',
  'cryptography==45.0.7',
  'service-identity<26',
];

/** Where the suite (and `npm run localstack`) keeps LocalStack's venv: reused across runs and clones. */
export function localstackVenvDir(): string {
  const base = process.env.DOCSIFT_TOOLS_DIR ?? path.join(os.homedir(), '.cache', 'docsift');
  return path.join(base, `localstack-${LOCALSTACK_VERSION}`);
}

async function pythonVersion(python: string): Promise<[number, number] | undefined> {
  try {
    const { stdout, stderr } = await run(python, ['--version']);
    const match = /Python (\d+)\.(\d+)/.exec(stdout || stderr);
    return match ? [Number(match[1]), Number(match[2])] : undefined;
  } catch {
    return undefined;
  }
}

/** pyenv's installed interpreters, newest first, when pyenv is there. */
async function pyenvPythons(): Promise<string[]> {
  let root = process.env.PYENV_ROOT;
  if (!root) {
    try {
      root = (await run('pyenv', ['root'])).stdout.trim();
    } catch {
      root = path.join(os.homedir(), '.pyenv');
    }
  }
  const versions = path.join(root, 'versions');
  if (!existsSync(versions)) return [];
  return readdirSync(versions)
    .filter((v) => /^3\.\d+\.\d+$/.test(v))
    .sort((a, b) => b.localeCompare(a, undefined, { numeric: true }))
    .map((v) => path.join(versions, v, 'bin', 'python'));
}

/**
 * A Python ≥ 3.13, which LocalStack 4.14.0 needs: it starts on 3.12, but its S3 imports
 * `warnings.deprecated` (new in 3.13) and fails every S3 call. `PYTHON313` when set, else pyenv's
 * versions, `python3.13`, `python3.14`, `python3`. Throws a message that says what was tried
 * when none fits.
 */
export async function findPython313(): Promise<string> {
  const candidates = [
    ...(process.env.PYTHON313 ? [process.env.PYTHON313] : []),
    ...(await pyenvPythons()),
    'python3.13',
    'python3.14',
    'python3',
  ];
  for (const python of candidates) {
    const version = await pythonVersion(python);
    if (version && version[0] === 3 && version[1] >= 13) return python;
  }
  throw new Error(
    `LocalStack ${LOCALSTACK_VERSION} needs Python 3.13 or newer, and none was found ` +
      `(tried ${candidates.join(', ')}). Install one (e.g. \`pyenv install 3.13\`) or set PYTHON313 to its path.`,
  );
}

/**
 * Creates the venv with the pinned LocalStack when it is missing (about a minute, once) and
 * returns its python.
 */
export async function ensureLocalStack(log?: (line: string) => void): Promise<string> {
  const dir = localstackVenvDir();
  const python = path.join(dir, 'bin', 'python');
  // Written last: a venv whose install was interrupted has no marker and is made again.
  const marker = path.join(dir, '.installed');
  // A venv made on 3.12 (which the first notes on host mode named) is made again.
  if (existsSync(marker) && ((await pythonVersion(python))?.[1] ?? 0) >= 13) return python;
  const base = await findPython313();
  log?.(`Creating LocalStack ${LOCALSTACK_VERSION}'s venv in ${dir} with ${base} (once, about a minute)`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(path.dirname(dir), { recursive: true });
  await run(base, ['-m', 'venv', dir]);
  await run(
    path.join(dir, 'bin', 'pip'),
    ['install', '--quiet', '--disable-pip-version-check', ...LOCALSTACK_REQUIREMENTS],
    { maxBuffer: 16 * 1024 * 1024 },
  );
  await writeFile(marker, `${LOCALSTACK_REQUIREMENTS.join('\n')}\n`);
  return python;
}

export type LocalStack = { endpoint: string; stop: () => Promise<void> };

export type LocalStackOptions = {
  /** Defaults to a free port. */
  port?: number;
  /** LocalStack's state folder; defaults to a temporary one, removed at stop. */
  volumeDir?: string;
  /** Defaults to 'ignore'; 'inherit' shows LocalStack's own log. */
  stdio?: StdioOptions;
  log?: (line: string) => void;
};

/**
 * Starts LocalStack in host mode (no Docker) on a loopback port and waits until its health
 * endpoint answers (about 15 s).
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const python = await ensureLocalStack(options.log);
  const port = options.port ?? (await freePort());
  const volumeDir = options.volumeDir ?? (await mkdtemp(path.join(os.tmpdir(), 'docsift-localstack-')));
  const address = `127.0.0.1:${port}`;
  const child: ChildProcess = spawn(python, ['-m', 'localstack.runtime.main'], {
    stdio: options.stdio ?? 'ignore',
    env: {
      ...process.env,
      GATEWAY_LISTEN: address,
      LOCALSTACK_HOST: address,
      // No network at start: no certificate download, no analytics.
      SKIP_SSL_CERT_DOWNLOAD: '1',
      DISABLE_EVENTS: '1',
      LOCALSTACK_VOLUME_DIR: volumeDir,
    },
  });
  const endpoint = `http://${address}`;
  const cleanup = async () => {
    if (!options.volumeDir) await rm(volumeDir, { recursive: true, force: true });
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
    await cleanup();
  };
  for (let i = 0; i < 240; i++) {
    if (child.exitCode !== null) {
      await cleanup();
      throw new Error(
        `LocalStack exited at start (code ${child.exitCode}); run \`npm run localstack\` to see why`,
      );
    }
    if (
      await fetch(`${endpoint}/_localstack/health`).then(
        (r) => r.ok,
        () => false,
      )
    ) {
      return { endpoint, stop };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error('LocalStack did not answer on /_localstack/health within 60 s');
}
