import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '#test/support/database.ts';
import { copyField, copyFrom, copyRow, NulCharacterError } from './copy.ts';
import { createDb, type Db, withConnection } from './database.ts';

let db: Db;
let drop: () => Promise<void>;

beforeAll(async () => {
  const database = await createTestDatabase();
  drop = database.drop;
  db = createDb(database.url, { max: 2 });
  await sql`CREATE TABLE copied (n int, t text, j jsonb)`.execute(db);
});
afterAll(async () => {
  await db.destroy();
  await drop();
});

async function* chunksOf(rows: (string | null)[][]): AsyncGenerator<string> {
  for (const row of rows) yield copyRow(row);
}

describe('copyField', () => {
  it('escapes what COPY text gives a meaning to, writes null as \\N, refuses NUL', () => {
    expect(copyField('plain é 😀')).toBe('plain é 😀');
    expect(copyField('a\tb\nc\rd\\e')).toBe('a\\tb\\nc\\rd\\\\e');
    expect(copyField('\\N')).toBe('\\\\N');
    expect(copyField(null)).toBe('\\N');
    expect(copyField('')).toBe('');
    expect(() => copyField('a\0b')).toThrow(NulCharacterError);
  });
});

describe('copyFrom', () => {
  it('stores every string exactly as given', async () => {
    const texts = [
      'tab\there',
      'line\nfeed and\r\ncrlf\r',
      'back\\slash \\N \\. \\t literal',
      '\\.',
      'end with backslash\\',
      '',
      ' spaces kept ',
      'accents é ü, emoji 😀, CJK 漢字',
      '"quotes", commas; pipes|',
      'x'.repeat(100_000),
    ];
    const json = JSON.stringify({ note: 'a "quoted"\ttab\nand \\ backslash', n: 1 });
    const rows: (string | null)[][] = texts.map((t, n) => [String(n), t, json]);
    rows.push([String(texts.length), null, null]);
    const copied = await withConnection(db, (conn, client) =>
      conn.transaction().execute(async (trx) => {
        await sql`TRUNCATE copied`.execute(trx);
        return copyFrom(client, 'copied', ['n', 't', 'j'], chunksOf(rows));
      }),
    );
    expect(copied).toBe(texts.length + 1);
    const stored = await db
      .selectFrom('copied' as never)
      .select(['n', 't', 'j'] as never[])
      .orderBy('n' as never)
      .execute();
    expect(stored.map((r) => (r as { t: string | null }).t)).toEqual([...texts, null]);
    expect((stored[0] as { j: unknown }).j).toEqual(JSON.parse(json));
    expect((stored.at(-1) as { j: unknown }).j).toBeNull();
  });

  it('writes a lone surrogate as U+FFFD, as a query parameter would', async () => {
    await withConnection(db, async (conn, client) => {
      await sql`TRUNCATE copied`.execute(conn);
      await copyFrom(client, 'copied', ['n', 't'], chunksOf([['1', 'a\uD800b']]));
    });
    const row = await sql<{ t: string }>`SELECT t FROM copied`.execute(db);
    expect(row.rows[0]!.t).toBe('a\uFFFDb');
  });

  it('cancels the COPY when the rows fail, keeps nothing of it, and the connection goes on', async () => {
    async function* failing(): AsyncGenerator<string> {
      yield copyRow(['1', 'kept?']);
      throw new Error('the source broke');
    }
    await sql`TRUNCATE copied`.execute(db);
    const error = await withConnection(db, (conn, client) =>
      conn.transaction().execute(async () => copyFrom(client, 'copied', ['n', 't'], failing())),
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ message: 'the source broke' });
    // A row Postgres refuses fails the COPY with Postgres's error.
    const refused = await withConnection(db, (_conn, client) =>
      copyFrom(client, 'copied', ['n', 't'], chunksOf([['not a number', 'x']])),
    ).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: '22P02' });
    // Both connections went back to the pool in working order.
    const [a, b] = await Promise.all([
      sql<{ n: number }>`SELECT count(*)::int AS n FROM copied`.execute(db),
      sql<{ n: number }>`SELECT count(*)::int AS n FROM copied`.execute(db),
    ]);
    expect([a.rows[0]!.n, b.rows[0]!.n]).toEqual([0, 0]);
  });
});

describe('withConnection', () => {
  it('hands over one session: the Kysely side and the raw client see the same transaction', async () => {
    const seen = await withConnection(db, (conn, client) =>
      conn.transaction().execute(async (trx) => {
        const kysely = await sql<{ x: string }>`SELECT txid_current()::text AS x`.execute(trx);
        const raw = await client.query<{ x: string }>('SELECT txid_current()::text AS x');
        return [kysely.rows[0]!.x, raw.rows[0]!.x];
      }),
    );
    expect(seen[0]).toBe(seen[1]);
  });

  it('refuses a database it did not make', async () => {
    const other = db.withoutPlugins();
    await expect(withConnection(other, async () => 1)).rejects.toThrow(/made by createDb/);
  });
});
