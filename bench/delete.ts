/**
 * Deleting a datasource of 10,000 to 1,000,000 records (issue 13), on the embedded database.
 * At each size two identical datasources, each in a workspace of its own, with what a used
 * datasource carries: a search document per record, and a job of one scheme over every record
 * (an item and a result per record). Then
 *
 *   inline      the anchor: one `DELETE FROM datasources` (what the API did in the request; its
 *               role's statement timeout is 10 s), cascading row by row
 *   background  the worker's delete (lib/services/deletes.ts): `delete_datasource` messages
 *               handled in turn, a chunk of records per transaction, until the row is gone;
 *               its longest chunk, and the messages it took
 *   mark        what the request itself does instead: one update to `deleting`
 *
 * and background / inline. Sizes run in turn, smallest first; `--max` stops early.
 * `--without-items-index` drops `classification_items_record_idx` first: how a delete went
 * before it (every record's cascade reads all items).
 *
 *   npm run bench:delete                   (10k, 20k, 100k, 1M: minutes)
 *   npm run bench:delete -- --max 100000   (a quick run)
 *
 * The embedded database is Postgres 18, whose skip scan finds a record's items through the
 * items' key (job_id first) even without the record_id index; Aurora runs 16. To measure on
 * another server, set DATABASE_URL to an empty database of it (the benchmark migrates it).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { createDb, DB_ROLES, type Db } from '#lib/db/database.ts';
import { startEmbeddedPostgres } from '#lib/db/embedded.ts';
import { migrateToLatest } from '#lib/db/migrate.ts';
import { newId } from '#lib/ids.ts';
import type { DeleteDatasource } from '#lib/ingest/messages.ts';
import { logger } from '#lib/logger.ts';
import { LocalObjectStore } from '#lib/ports/objects/local.ts';
import { DELETE_CHUNK_RECORDS, deleteDatasourceStep } from '#lib/services/deletes.ts';
import { createWorkspace, now, seconds } from './support/csv-ingest.ts';

logger.setLogLevel('ERROR');

const SIZES = [10_000, 20_000, 100_000, 1_000_000];
/** The worker's limits, without the statement timeout: the anchor is one long statement. */
const WORKER_DB = { ...DB_ROLES.ingest, statementTimeoutMs: 0 };

let filled = 0;

/** A datasource of `rows` records with a search document, an item and a result each. */
async function fill(db: Db, rows: number): Promise<{ workspaceId: string; datasourceId: string }> {
  // Ids in creation order, as uuidv7 makes them (Postgres before 18 has no uuidv7()).
  const prefix = (++filled).toString(16).padStart(8, '0');
  const { workspaceId } = await createWorkspace(db);
  const datasourceId = newId();
  const schemeId = newId();
  const jobId = newId();
  await db
    .insertInto('datasources')
    .values({
      id: datasourceId,
      workspace_id: workspaceId,
      name: 'bench',
      type: 'csv',
      options: '{}',
      status: 'complete',
      metadata: '{}',
      run_id: newId(),
      record_count: rows,
    })
    .execute();
  await sql`
    INSERT INTO records (id, workspace_id, datasource_id, source_key, title, text_content, source_metadata, content_hash)
    SELECT (${prefix} || '-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, ${workspaceId}, ${datasourceId}, 'row:' || g, 'Row ' || g,
      'the customer reported that invoice ' || g || ' was late again and asked for a refund while support confirmed the order shipped on time',
      jsonb_build_object('row_number', g), md5(g::text)
    FROM generate_series(1, ${rows}) g`.execute(db);
  await sql`
    INSERT INTO record_search (record_id, workspace_id, doc_hash, search)
    SELECT id, workspace_id, md5(content_hash), to_tsvector('simple', coalesce(title, '') || ' ' || text_content)
    FROM records WHERE datasource_id = ${datasourceId}`.execute(db);
  await db
    .insertInto('classification_schemes')
    .values({
      id: schemeId,
      workspace_id: workspaceId,
      name: 'Tone',
      fields: JSON.stringify([{ name: 'calm', description: 'Is it calm', type: 'bool' }]),
    })
    .execute();
  await db
    .insertInto('classification_jobs')
    .values({
      id: jobId,
      workspace_id: workspaceId,
      name: 'bench',
      description: null,
      status: 'completed',
      scheme_ids: [schemeId],
      datasource_ids: [datasourceId],
      provider: 'openai',
      model: 'fake-model',
      options: '{}',
      error_message: null,
      finished_at: new Date(),
      plan_cursor: null,
      plan_until: null,
      planned_at: new Date(),
    })
    .execute();
  await sql`
    INSERT INTO classification_items (job_id, record_id, scheme_id, status)
    SELECT ${jobId}, id, ${schemeId}, 'succeeded' FROM records WHERE datasource_id = ${datasourceId}`.execute(
    db,
  );
  await sql`
    INSERT INTO classification_results (id, workspace_id, job_id, record_id, scheme_id, value, justifications, provider, model)
    SELECT gen_random_uuid(), ${workspaceId}, ${jobId}, id, ${schemeId}, '{"calm": true}', '{}', 'openai', 'fake-model'
    FROM records WHERE datasource_id = ${datasourceId}`.execute(db);
  return { workspaceId, datasourceId };
}

/** The worker's delete of a datasource marked `deleting`: its messages in turn, each one timed. */
async function backgroundDelete(
  db: Db,
  objects: LocalObjectStore,
  workspaceId: string,
  datasourceId: string,
) {
  const markStart = now();
  await db.updateTable('datasources').set({ status: 'deleting' }).where('id', '=', datasourceId).execute();
  const markMs = now() - markStart;
  const sent: unknown[] = [];
  const deps = {
    db,
    objects,
    log: logger,
    queue: { send: async (_queue: string, bodies: unknown[]) => void sent.push(...bodies) },
    settings: { ingestQueue: 'bench' },
  };
  let message: DeleteDatasource | undefined = {
    kind: 'delete_datasource',
    datasource_id: datasourceId,
    workspace_id: workspaceId,
  };
  const start = now();
  let messages = 0;
  while (message) {
    await deleteDatasourceStep(deps, message);
    messages++;
    message = sent.shift() as DeleteDatasource | undefined;
  }
  const ms = now() - start;
  const left = await db
    .selectFrom('datasources')
    .select('id')
    .where('id', '=', datasourceId)
    .executeTakeFirst();
  if (left) throw new Error('the datasource is still there');
  return { ms, markMs, messages };
}

/** The longest single chunk of a background delete, timed alone on a fresh datasource's records. */
async function chunkMs(db: Db, datasourceId: string): Promise<number> {
  const start = now();
  await sql`DELETE FROM records WHERE id IN (SELECT id FROM records WHERE datasource_id = ${datasourceId} ORDER BY id LIMIT ${DELETE_CHUNK_RECORDS})`.execute(
    db,
  );
  return now() - start;
}

function maxSize(): number {
  const at = process.argv.indexOf('--max');
  return at > 0 ? Number(process.argv[at + 1]) : Number.POSITIVE_INFINITY;
}

const load = () =>
  loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
const dir = await mkdtemp(path.join(tmpdir(), 'docsift-bench-delete-'));
const database = process.env.DATABASE_URL
  ? { url: process.env.DATABASE_URL, stop: async () => {} }
  : await startEmbeddedPostgres(path.join(dir, 'db'));
const db = createDb(database.url, WORKER_DB);
const objects = new LocalObjectStore(path.join(dir, 'objects'), 'http://127.0.0.1:0', 'bench');
type Row = {
  rows: number;
  inlineMs: number;
  backgroundMs: number;
  chunkMs: number;
  markMs: number;
  messages: number;
};
const table: Row[] = [];
try {
  await migrateToLatest(db);
  if (process.argv.includes('--without-items-index'))
    await sql`DROP INDEX classification_items_record_idx`.execute(db);
  console.log(`load average at start: ${load()}`);
  for (const rows of SIZES.filter((n) => n <= maxSize())) {
    const a = await fill(db, rows);
    const b = await fill(db, rows);
    await sql`VACUUM ANALYZE`.execute(db);
    const inlineStart = now();
    await db.deleteFrom('datasources').where('id', '=', a.datasourceId).execute();
    const inlineMs = now() - inlineStart;
    const chunk = await chunkMs(db, b.datasourceId);
    const background = await backgroundDelete(db, objects, b.workspaceId, b.datasourceId);
    const row = {
      rows,
      inlineMs,
      backgroundMs: background.ms + chunk,
      chunkMs: chunk,
      markMs: background.markMs,
      messages: background.messages,
    };
    table.push(row);
    console.log(
      `${rows.toLocaleString('en').padStart(9)} records: inline ${seconds(inlineMs)}, background ${seconds(row.backgroundMs)} ` +
        `(${row.messages} messages, a chunk of ${DELETE_CHUNK_RECORDS.toLocaleString('en')} ${chunk.toFixed(0)} ms), ` +
        `mark ${background.markMs.toFixed(1)} ms, background / inline ${(row.backgroundMs / inlineMs).toFixed(2)} (load ${load()})`,
    );
    await sql`VACUUM ANALYZE`.execute(db);
  }
  console.log(`\nload average at the end: ${load()}`);
} finally {
  await db.destroy();
  await database.stop();
  await rm(dir, { recursive: true, force: true });
}
