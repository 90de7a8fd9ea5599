import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '#test/support/database.ts';
import { createDb, type Db } from './database.ts';
import { limitTransaction } from './statement-timeout.ts';

let db: Db;
let drop: () => Promise<void>;

beforeAll(async () => {
  const database = await createTestDatabase();
  drop = database.drop;
  // One connection: the check after the transaction runs on the connection it used.
  db = createDb(database.url, { max: 1 });
});
afterAll(async () => {
  await db.destroy();
  await drop();
});

describe('limitTransaction', () => {
  it('cancels a statement of the transaction that runs past the limit', async () => {
    const started = performance.now();
    const error = await db
      .transaction()
      .execute(async (trx) => {
        await limitTransaction(trx, 200);
        await sql`SELECT pg_sleep(5)`.execute(trx);
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: '57014' });
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it('applies to that transaction only', async () => {
    const show = async () =>
      (await sql<{ statement_timeout: string }>`SHOW statement_timeout`.execute(db)).rows[0]!
        .statement_timeout;
    const before = await show();
    await db.transaction().execute((trx) => limitTransaction(trx, 200));
    expect(await show()).toBe(before);
    expect(before).not.toBe('200ms');
  });
});
