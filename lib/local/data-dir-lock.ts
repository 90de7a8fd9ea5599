import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { isAlive } from '#lib/db/embedded.ts';

/** Another live docsift process holds the DATA_DIR. */
export class DataDirInUseError extends Error {
  override name = 'DataDirInUseError';
}

/**
 * Claims `dataDir` for this process with a pid file (`docsift.pid`, created exclusively), so
 * two local runtimes never share an embedded cluster, uploads and outbox. A pid file left by
 * a process that is gone (SIGKILL, power loss) is taken over. Returns the release function,
 * which also runs on process exit.
 *
 * Throws a {@link DataDirInUseError} naming the holder's pid when it is alive.
 *
 * @example const release = lockDataDir(config.dataDir); ... release();
 */
export function lockDataDir(dataDir: string): () => void {
  const file = path.join(path.resolve(dataDir), 'docsift.pid');
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
      const holder = Number.parseInt(readFileSync(file, 'utf8'), 10);
      if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
        throw new DataDirInUseError(
          `DATA_DIR ${path.resolve(dataDir)} is in use by another docsift process (pid ${holder}); stop it first, or set another DATA_DIR`,
        );
      }
      // Stale: its process is gone. Taken over by the next exclusive create.
      rmSync(file, { force: true });
    }
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    rmSync(file, { force: true });
  };
  process.on('exit', release);
  return release;
}
