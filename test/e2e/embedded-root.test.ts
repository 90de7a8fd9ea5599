import { chmod, lstat, mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '#lib/db/embedded.ts';
import { postgresUser, ROOT_CLUSTERS_DIR } from '#lib/db/embedded-root.ts';

// As root (many containers), PostgreSQL runs as user `postgres`, which cannot reach a DATA_DIR
// under a 0700 folder such as /root: the cluster then lives under ROOT_CLUSTERS_DIR.
const isRoot = process.getuid?.() === 0;
const cleanup: string[] = [];
afterAll(() => Promise.all(cleanup.map((dir) => rm(dir, { recursive: true, force: true }))));

async function query(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query('SELECT current_user AS who')).rows[0].who;
  } finally {
    await client.end();
  }
}

describe('the embedded PostgreSQL run by root', () => {
  it.runIf(isRoot)(
    'starts, and starts again, with a DATA_DIR under a 0700 folder',
    async () => {
      const home = await mkdtemp(path.join(tmpdir(), 'docsift-root-home-'));
      cleanup.push(home);
      await chmod(home, 0o700);
      const dataDir = path.join(home, 'data');

      const first = await startEmbeddedPostgres(dataDir);
      cleanup.push(first.dir);
      try {
        expect(await query(first.url)).toBe('postgres');
      } finally {
        await first.stop();
      }
      // The cluster is out of DATA_DIR, owned by `postgres`, and DATA_DIR/postgres links to it.
      expect(first.dir.startsWith(`${ROOT_CLUSTERS_DIR}/`)).toBe(true);
      expect((await lstat(path.join(dataDir, 'postgres'))).isSymbolicLink()).toBe(true);
      expect(await realpath(path.join(dataDir, 'postgres'))).toBe(first.dir);
      expect((await stat(first.dir)).uid).toBe(postgresUser().uid);

      const second = await startEmbeddedPostgres(dataDir);
      try {
        expect(second.dir).toBe(first.dir);
        expect(await query(second.url)).toBe('postgres');
      } finally {
        await second.stop();
      }
    },
    60_000,
  );
});
