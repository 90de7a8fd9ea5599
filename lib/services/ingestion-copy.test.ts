import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '#lib/db/database.ts';
import { newId } from '#lib/ids.ts';
import { uploadKey } from '#lib/ingest/messages.ts';
import { logger } from '#lib/logger.ts';
import { LocalObjectStore } from '#lib/ports/objects/local.ts';
import { createTestDatabase } from '#test/support/database.ts';
import { makeCsv } from '#test/support/fixtures.ts';
import { handleIngestMessage, type IngestDeps } from './ingestion.ts';

// The COPY path of a run into a datasource without records: what it stores, how it fails,
// and what a redelivery does.

let db: Db;
let drop: () => Promise<void>;
let dir: string;
let objects: LocalObjectStore;
const userId = newId();
const workspaceId = newId();

const deps = (): IngestDeps => ({
  db,
  objects,
  queue: { send: async () => {} },
  log: logger,
  settings: { ingestQueue: 'ingest', maxUploadBytes: 1e8, scraperAllowPrivateHosts: false },
});

beforeAll(async () => {
  const database = await createTestDatabase();
  drop = database.drop;
  db = createDb(database.url, { max: 4 });
  dir = await mkdtemp(path.join(tmpdir(), 'docsift-copy-'));
  objects = new LocalObjectStore(dir, 'http://127.0.0.1:0', 'test');
  await db
    .insertInto('users')
    .values({ id: userId, email: `${userId}@example.com`, hashed_password: 'x' })
    .execute();
  await db.insertInto('workspaces').values({ id: workspaceId, name: 'Copy', owner_id: userId }).execute();
});
afterAll(async () => {
  await db.destroy();
  await drop();
  await rm(dir, { recursive: true, force: true });
});

/** A pending CSV datasource holding `file`; answers its process message. */
async function csvSource(
  file: string | Buffer,
  options: Record<string, unknown> = {},
  workspace = workspaceId,
) {
  const id = newId();
  const runId = newId();
  const key = uploadKey(workspace, id, 'rows.csv');
  await objects.put(key, Buffer.from(file));
  await db
    .insertInto('datasources')
    .values({
      id,
      workspace_id: workspace,
      name: 'rows',
      type: 'csv',
      options: JSON.stringify(options),
      status: 'pending',
      metadata: '{}',
      run_id: runId,
      object_key: key,
    })
    .execute();
  return JSON.stringify({ kind: 'process_datasource', datasource_id: id, run_id: runId });
}

const idOf = (message: string) => (JSON.parse(message) as { datasource_id: string }).datasource_id;
const datasource = (id: string) =>
  db.selectFrom('datasources').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const records = (id: string) =>
  db.selectFrom('records').selectAll().where('datasource_id', '=', id).orderBy('id').execute();

describe('a run into a datasource without records (COPY)', () => {
  it('stores every field exactly: tabs, line breaks, backslashes, quotes, accents', async () => {
    const rows = [
      ['name', 'note', 'when'],
      ['Tab\there', 'line one\nline two\r\nthree', '2024-03-01T10:00:00Z'],
      ['back\\slash', '\\N is not null, \\. is not the end, \\t is not a tab', 'not a date'],
      ['"Quoted", with commas', 'accents é ü ß, emoji 😀, 漢字', ''],
      ['trailing\\', ' ', '2024-03-02'],
    ];
    const message = await csvSource(makeCsv(rows), { title_column: 'name', event_timestamp_column: 'when' });
    await handleIngestMessage(deps(), message);
    const source = await datasource(idOf(message));
    expect(source).toMatchObject({ status: 'complete', record_count: 4 });
    expect(source.metadata).toMatchObject({ unparsed_timestamps: 1, changes: { added: 4 } });

    const stored = await records(idOf(message));
    // Ids sort in row order (the records list pages by id).
    expect(stored.map((r) => r.source_key)).toEqual(['row:1', 'row:2', 'row:3', 'row:4']);
    expect(stored.map((r) => r.title)).toEqual(rows.slice(1).map((r) => r[0]));
    expect(stored[0]!.text_content).toBe(
      'name: Tab\there\nnote: line one\nline two\r\nthree\nwhen: 2024-03-01T10:00:00Z',
    );
    expect(stored[1]!.text_content).toBe(
      'name: back\\slash\nnote: \\N is not null, \\. is not the end, \\t is not a tab\nwhen: not a date',
    );
    expect(stored[3]!.text_content).toBe('name: trailing\\\nwhen: 2024-03-02');
    expect(stored.map((r) => r.event_timestamp?.toISOString() ?? null)).toEqual([
      '2024-03-01T10:00:00.000Z',
      null,
      null,
      new Date('2024-03-02').toISOString(),
    ]);
    expect(stored[0]!.source_metadata).toEqual({
      row_number: 1,
      row_data: { name: 'Tab\there', note: 'line one\nline two\r\nthree', when: '2024-03-01T10:00:00Z' },
    });
    expect(stored[2]!.source_metadata).toMatchObject({ row_data: { name: '"Quoted", with commas' } });
    for (const r of stored) {
      expect(r.content_hash).toBe(createHash('sha256').update(r.text_content).digest('hex'));
      expect(r).toMatchObject({ workspace_id: workspaceId, seen_run: source.run_id, appended: false });
    }
  });

  it('ends with one set of records when the message is delivered twice at once, and again later', async () => {
    const rows = Array.from({ length: 3000 }, (_, i) => [`row ${i}`, `${i}`]);
    const message = await csvSource(makeCsv([['name', 'n'], ...rows]));
    await Promise.all([handleIngestMessage(deps(), message), handleIngestMessage(deps(), message)]);
    const first = await records(idOf(message));
    expect(first).toHaveLength(3000);
    expect(await datasource(idOf(message))).toMatchObject({ status: 'complete', record_count: 3000 });

    await handleIngestMessage(deps(), message);
    const again = await records(idOf(message));
    expect(again.map((r) => r.id)).toEqual(first.map((r) => r.id));
    expect((await datasource(idOf(message))).metadata).toMatchObject({ changes: { added: 3000 } });
  });

  it.each([
    ['a quote never closed', Buffer.from('\n"never closed,x'), /quote that is never closed/],
    ['a NUL character', Buffer.from('\nnul\0here,x'), /NUL characters/],
  ])(
    'fails with its reason and keeps no record when the file breaks half-way (%s)',
    async (_, tail, reason) => {
      // Far enough into the file (about 1 MB) that the COPY has taken rows already.
      const row = (i: number) => [`row ${i}, with enough text to make the file long`, `${i}`];
      const head = makeCsv([['name', 'n'], ...Array.from({ length: 20_000 }, (_, i) => row(i))]);
      const message = await csvSource(Buffer.concat([Buffer.from(head.trimEnd()), tail]));
      await handleIngestMessage(deps(), message);
      const source = await datasource(idOf(message));
      expect(source.status).toBe('failed');
      expect(source.error_message).toMatch(reason);
      expect(await records(idOf(message))).toEqual([]);
      // The connection the COPY was cancelled on went back to the pool in working order.
      const next = await csvSource(makeCsv([['name'], ['fine']]));
      await handleIngestMessage(deps(), next);
      expect(await datasource(idOf(next))).toMatchObject({ status: 'complete', record_count: 1 });
    },
  );
});

describe('records and their datasource', () => {
  it('refuse a record whose workspace is not its datasource’s; a workspace takes its records with it', async () => {
    const otherWorkspace = newId();
    await db
      .insertInto('workspaces')
      .values({ id: otherWorkspace, name: 'Other', owner_id: userId })
      .execute();
    const message = await csvSource(makeCsv([['name'], ['kept']]), {}, otherWorkspace);
    await handleIngestMessage(deps(), message);
    const record = {
      id: newId(),
      datasource_id: idOf(message),
      source_key: 'forged',
      text_content: 'x',
      content_hash: 'x',
      source_metadata: '{}',
    };
    const refused = await db
      .insertInto('records')
      .values({ ...record, workspace_id: workspaceId })
      .execute()
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: '23503', constraint: 'records_datasource_workspace_fkey' });
    const unknown = await db
      .insertInto('records')
      .values({ ...record, datasource_id: newId(), workspace_id: otherWorkspace })
      .execute()
      .catch((e: unknown) => e);
    expect(unknown).toMatchObject({ code: '23503' });

    expect(await records(idOf(message))).toHaveLength(1);
    await db.deleteFrom('workspaces').where('id', '=', otherWorkspace).execute();
    expect(await records(idOf(message))).toEqual([]);
  });
});
