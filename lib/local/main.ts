import { existsSync } from 'node:fs';
import { ConfigError, loadConfig } from '#lib/config.ts';
import { logger } from '#lib/logger.ts';
import { DataDirInUseError } from './data-dir-lock.ts';
import { type LocalRuntime, startLocalRuntime } from './runtime.ts';
import { formatSummary } from './startup.ts';

// `npm start`: the whole service in one process, on the embedded default unless told otherwise.
if (existsSync('.env')) process.loadEnvFile('.env');

let runtime: LocalRuntime | undefined;
let stopping = false;

// Installed before anything starts: a signal during start-up waits for it, then stops cleanly.
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  logger.info('Shutting down', { signal });
  if (runtime) {
    await runtime.stop();
    logger.info('Stopped cleanly');
    process.exit(0);
  }
}
process.on('SIGINT', () => void shutdown('SIGINT'));
process.on('SIGTERM', () => void shutdown('SIGTERM'));

// Orphaned (the parent that started us, npm or a shell, was killed without passing a signal
// on): nobody is left to stop us, so stop now rather than hold the DATA_DIR and Postgres.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void shutdown('parent exited');
}, 1000).unref();

try {
  runtime = await startLocalRuntime(loadConfig());
  // One block that says what runs: plain text for a person at a terminal, one JSON line for a
  // log collector (a container's stdout).
  if (process.stdout.isTTY) console.log(formatSummary(runtime.summary));
  else logger.info('docsift is running', { ...runtime.summary });
  if (stopping) {
    stopping = false;
    await shutdown('signal during start-up');
  }
} catch (error) {
  if (error instanceof ConfigError || error instanceof DataDirInUseError) console.error(error.message);
  else logger.error('Failed to start', { error: error as Error });
  process.exit(1);
}
