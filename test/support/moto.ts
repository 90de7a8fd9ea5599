import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '#lib/db/embedded.ts';

const run = promisify(execFile);

/** The moto release the suite is written against; the venv is keyed by it. */
export const MOTO_VERSION = '5.2.5';

/** Where the suite keeps its Python venv for moto: reused across runs and clones. */
export function motoVenvDir(): string {
  const base = process.env.DOCSIFT_TOOLS_DIR ?? path.join(os.homedir(), '.cache', 'docsift');
  return path.join(base, `moto-${MOTO_VERSION}`);
}

/**
 * Creates the venv with the pinned `moto[server]` when it is missing (about 40 s, once).
 * Needs python3 with venv; says so clearly when it is absent.
 */
export async function ensureMoto(): Promise<string> {
  const dir = motoVenvDir();
  const server = path.join(dir, 'bin', 'moto_server');
  // Written last: a venv whose install was interrupted has no marker and is made again.
  const marker = path.join(dir, '.installed');
  if (existsSync(marker)) return server;
  const python = process.env.PYTHON ?? 'python3';
  try {
    await run(python, ['--version']);
  } catch {
    throw new Error(
      `The AWS tests run moto, which needs Python 3 (${python} was not found; set PYTHON to another)`,
    );
  }
  await rm(dir, { recursive: true, force: true });
  await mkdir(path.dirname(dir), { recursive: true });
  await run(python, ['-m', 'venv', dir]);
  const pip = path.join(dir, 'bin', 'pip');
  await run(pip, ['install', '--quiet', '--disable-pip-version-check', `moto[server]==${MOTO_VERSION}`], {
    maxBuffer: 16 * 1024 * 1024,
  });
  await writeFile(marker, `moto[server]==${MOTO_VERSION}\n`);
  return server;
}

export type Moto = { endpoint: string; stop: () => Promise<void> };

/** Starts moto's server on a free loopback port and waits until it answers. */
export async function startMoto(): Promise<Moto> {
  const server = await ensureMoto();
  const port = await freePort();
  const child: ChildProcess = spawn(server, ['-H', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 120; i++) {
    if (child.exitCode !== null) throw new Error('moto_server exited at start');
    if (
      await fetch(`${endpoint}/moto-api/`).then(
        (r) => r.ok,
        () => false,
      )
    ) {
      return {
        endpoint,
        stop: async () => {
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        },
      };
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  child.kill('SIGKILL');
  throw new Error('moto_server did not start');
}
