import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '#lib/db/database.ts';
import { newId } from '#lib/ids.ts';
import { uploadKey } from '#lib/ingest/messages.ts';
import { logger } from '#lib/logger.ts';
import { LocalObjectStore } from '#lib/ports/objects/local.ts';
import { createTestDatabase } from '#test/support/database.ts';
import { makeCsv } from '#test/support/fixtures.ts';
import { handleIngestMessage, type IngestDeps } from './ingestion.ts';
import { indexDatasource } from './record-search.ts';
import { listRecords } from './records.ts';

let db: Db;
let drop: () => Promise<void>;
let dir: string;
let objects: LocalObjectStore;
const sent: { queue: string; body: Record<string, unknown> }[] = [];
const user = { id: newId() };
const workspaceId = newId();

/** The worker, with runs of more than two records leaving their search documents to a step after. */
const deps = (): IngestDeps => ({
  db,
  objects,
  queue: {
    send: async (queue, messages) => {
      for (const body of messages) sent.push({ queue, body: body as Record<string, unknown> });
    },
  },
  log: logger,
  settings: {
    ingestQueue: 'ingest',
    maxUploadBytes: 1e6,
    scraperAllowPrivateHosts: false,
    inlineIndexMaxRecords: 2,
  },
});

beforeAll(async () => {
  const database = await createTestDatabase();
  drop = database.drop;
  db = createDb(database.url);
  dir = await mkdtemp(path.join(tmpdir(), 'docsift-search-'));
  objects = new LocalObjectStore(dir, 'http://127.0.0.1:0', 'test');
  await db
    .insertInto('users')
    .values({ id: user.id, email: `${user.id}@example.com`, hashed_password: 'x' })
    .execute();
  await db.insertInto('workspaces').values({ id: workspaceId, name: 'Search', owner_id: user.id }).execute();
});
afterAll(async () => {
  await db.destroy();
  await drop();
  await rm(dir, { recursive: true, force: true });
});

/** A CSV datasource with `notes` as its rows, run once; answers its id and run. */
async function ingestCsv(notes: string[], id = newId()) {
  const runId = newId();
  const key = uploadKey(workspaceId, id, 'notes.csv');
  await objects.put(key, Buffer.from(makeCsv([['note'], ...notes.map((n) => [n])])));
  await db
    .insertInto('datasources')
    .values({
      id,
      workspace_id: workspaceId,
      name: 'notes',
      type: 'csv',
      options: '{}',
      status: 'pending',
      metadata: '{}',
      run_id: runId,
      object_key: key,
    })
    .onConflict((oc) => oc.column('id').doUpdateSet({ status: 'pending', run_id: runId }))
    .execute();
  sent.length = 0;
  await handleIngestMessage(
    deps(),
    JSON.stringify({ kind: 'process_datasource', datasource_id: id, run_id: runId }),
  );
  return { id, runId };
}

/** The texts of the records `q` finds; its count (taken on the search documents alone) agrees. */
async function search(q: string) {
  const page = await listRecords(db, user, workspaceId, { q, limit: 50 });
  expect(page.count).toBe(page.data.length);
  return page.data.map((r) => r.text_content).sort();
}
const statusOf = async (id: string) =>
  await db
    .selectFrom('datasources')
    .select(['status', 'search_status'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();

describe('search documents built after a large run', () => {
  it('completes the run first, then its index step makes the records findable by q', async () => {
    const { id, runId } = await ingestCsv(['red apple', 'green pear', 'red cherry']);
    expect(await statusOf(id)).toEqual({ status: 'complete', search_status: 'indexing' });
    expect(sent).toEqual([
      { queue: 'ingest', body: { kind: 'index_search', datasource_id: id, run_id: runId } },
    ]);
    expect(await search('red')).toEqual([]);

    await handleIngestMessage(deps(), JSON.stringify(sent[0]!.body));
    expect(await statusOf(id)).toEqual({ status: 'complete', search_status: 'ready' });
    expect(await search('red')).toEqual(['note: red apple', 'note: red cherry']);
    // A redelivery finds nothing left to build.
    await handleIngestMessage(deps(), JSON.stringify(sent[0]!.body));
    expect(await search('red')).toEqual(['note: red apple', 'note: red cherry']);
  });

  it('rebuilds the documents of records whose text a reprocess changed, and drops removed ones', async () => {
    const { id } = await ingestCsv(['blue whale', 'blue jay', 'grey seal']);
    await handleIngestMessage(deps(), JSON.stringify(sent[0]!.body));
    expect(await search('blue')).toEqual(['note: blue jay', 'note: blue whale']);

    await ingestCsv(['orange whale', 'blue jay', 'white swan'], id);
    await handleIngestMessage(deps(), JSON.stringify(sent[0]!.body));
    expect(await search('blue')).toEqual(['note: blue jay']);
    expect(await search('whale')).toEqual(['note: orange whale']);
    expect(await search('seal')).toEqual([]);
    const orphans = await db
      .selectFrom('record_search as s')
      .leftJoin('records as r', 'r.id', 's.record_id')
      .select('s.record_id')
      .where('r.id', 'is', null)
      .execute();
    expect(orphans).toEqual([]);
  });

  it('chains the step in bounded messages: each takes a few chunks and names where the next starts', async () => {
    const { id, runId } = await ingestCsv(['teal one', 'teal two', 'teal three', 'teal four', 'teal five']);
    const bounded = { chunks: 2, chunkRecords: 1 };
    const first = await indexDatasource(db, { datasourceId: id, runId }, bounded);
    expect(first.indexed).toBe(2);
    expect(await search('teal')).toEqual(['note: teal one', 'note: teal two']);
    const second = await indexDatasource(db, { datasourceId: id, runId, after: first.next }, bounded);
    expect(second.indexed).toBe(2);
    expect(await statusOf(id)).toEqual({ status: 'complete', search_status: 'indexing' });
    const last = await indexDatasource(db, { datasourceId: id, runId, after: second.next }, bounded);
    expect(last).toEqual({ indexed: 1 });
    expect(await statusOf(id)).toEqual({ status: 'complete', search_status: 'ready' });
    expect(await search('teal')).toHaveLength(5);
  });

  it('indexes a small run inside it: findable as soon as it completes', async () => {
    const { id } = await ingestCsv(['violet tulip']);
    expect(await statusOf(id)).toEqual({ status: 'complete', search_status: 'ready' });
    expect(sent).toEqual([]);
    expect(await search('tulip')).toEqual(['note: violet tulip']);
  });

  it('leaves an older run’s step without effect on the status of a newer run', async () => {
    const first = await ingestCsv(['amber stone', 'amber light', 'amber glow']);
    const stale = sent[0]!.body;
    const second = await ingestCsv(['jade stone', 'jade light', 'jade glow'], first.id);
    await handleIngestMessage(deps(), JSON.stringify(stale));
    expect(await statusOf(second.id)).toEqual({ status: 'complete', search_status: 'indexing' });
    await handleIngestMessage(deps(), JSON.stringify(sent[0]!.body));
    expect(await statusOf(second.id)).toEqual({ status: 'complete', search_status: 'ready' });
    expect(await search('jade')).toHaveLength(3);
    expect(await search('amber')).toEqual([]);
  });
});

describe('the total of a search', () => {
  it('is counted exactly up to the cap, and past it is the planner’s estimate, marked inexact', async () => {
    const notes = Array.from({ length: 40 }, (_, i) => `coral ${i % 4 === 0 ? 'reef' : 'sand'} ${i}`);
    const { id } = await ingestCsv(notes);
    await handleIngestMessage(deps(), JSON.stringify(sent[0]!.body));
    await sql`ANALYZE record_search`.execute(db);

    const few = await listRecords(db, user, workspaceId, { q: 'reef', limit: 5 }, 20);
    expect(few).toMatchObject({ count: 10, count_exact: true });
    const many = await listRecords(db, user, workspaceId, { q: 'coral', limit: 5 }, 20);
    expect(many.count_exact).toBe(false);
    // The estimate is never below what was counted; the statistics put it near the 40 there are.
    expect(many.count).toBeGreaterThanOrEqual(21);
    expect(many.count).toBeLessThanOrEqual(80);
    expect(many.data).toHaveLength(5);
    // With another filter the records are counted (and capped) the same way.
    const inSource = await listRecords(
      db,
      user,
      workspaceId,
      { q: 'coral', datasource_id: id, limit: 5 },
      20,
    );
    expect(inSource.count_exact).toBe(false);
    expect(inSource.count).toBeGreaterThanOrEqual(21);
    const under = await listRecords(db, user, workspaceId, { q: 'reef', datasource_id: id, limit: 5 }, 20);
    expect(under).toMatchObject({ count: 10, count_exact: true });
    // Without q nothing is capped.
    const all = await listRecords(db, user, workspaceId, { datasource_id: id, limit: 5 }, 20);
    expect(all).toMatchObject({ count: 40, count_exact: true });
  });
});
