import { sql } from 'kysely';
import { copyFrom, copyRow } from '#lib/db/copy.ts';
import { createDb, withConnection } from '#lib/db/database.ts';

// A Lambda entry for test/infra/bundled-runtime.test.ts: a COPY through pg-copy-streams, bundled.
export const handler = async (): Promise<{ copied: number; stored: string[] }> => {
  const db = createDb(process.env.DATABASE_URL!, { max: 1 });
  try {
    return await withConnection(db, (conn, client) =>
      conn.transaction().execute(async (trx) => {
        await sql`CREATE TEMP TABLE bundled_copy (t text) ON COMMIT DROP`.execute(trx);
        async function* rows() {
          yield copyRow(['a\tb']) + copyRow(['c\\d']);
        }
        const copied = await copyFrom(client, 'bundled_copy', ['t'], rows());
        const stored = await sql<{ t: string }>`SELECT t FROM bundled_copy ORDER BY t`.execute(trx);
        return { copied, stored: stored.rows.map((r) => r.t) };
      }),
    );
  } finally {
    await db.destroy();
  }
};
