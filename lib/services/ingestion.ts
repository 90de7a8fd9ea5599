import type { Readable } from 'node:stream';
import type { Logger } from '@aws-lambda-powertools/logger';
import { sql } from 'kysely';
import type pg from 'pg';
import { importOfKey } from '#lib/bundles/keys.ts';
import { copyFrom, copyRow, NulCharacterError } from '#lib/db/copy.ts';
import { type Db, withConnection } from '#lib/db/database.ts';
import type { Datasource, NewDataRecord } from '#lib/db/schema.ts';
import { datasourceFinished } from '#lib/events/lifecycle.ts';
import { recordEvents } from '#lib/events/outbox.ts';
import { newId } from '#lib/ids.ts';
import { contentHash } from '#lib/ingest/content-hash.ts';
import { type CsvOptions, csvRecordText, openCsv } from '#lib/ingest/csv.ts';
import { IngestError } from '#lib/ingest/errors.ts';
import {
  type AppendUrl,
  AppendUrl as AppendUrlMessage,
  datasourceOfKey,
  decodeEventKey,
  type IndexSearch,
  IngestMessage,
  isStoredFileKey,
  ownerOfPrefix,
  type PurgeObjects,
  type ScrapeUrls,
  storedFileKey,
} from '#lib/ingest/messages.ts';
import { type ObjectStore, readAll } from '#lib/ports/objects/store.ts';
import type { QueueSender } from '#lib/ports/queue/queue.ts';
import { failExport, failImport, runExport, runImport, runShareExport } from './bundles.ts';
import { deleteDatasourceStep, deleteWorkspaceStep, lockDatasourceRun } from './deletes.ts';
import { INLINE_INDEX_MAX_RECORDS, indexDatasource, indexRecords } from './record-search.ts';

// pdf.js and the scraper (undici, cheerio) are most of the ingest worker's bundle, and most
// messages need neither: each is loaded by the first message that does (a chunk of its own in
// the bundle, infra/bundling.ts). pdf.ts also runs as the PDF worker thread's entry, which then
// loads that chunk alone.
const extractPdf: typeof import('#lib/ingest/pdf.ts').extractPdf = async (...args) =>
  (await import('#lib/ingest/pdf.ts')).extractPdf(...args);
const scrapeUrl: typeof import('#lib/ingest/scrape.ts').scrapeUrl = async (...args) =>
  (await import('#lib/ingest/scrape.ts')).scrapeUrl(...args);

export type IngestDeps = {
  db: Db;
  objects: ObjectStore;
  queue: QueueSender;
  log: Logger;
  settings: {
    ingestQueue: string;
    maxUploadBytes: number;
    scraperAllowPrivateHosts: boolean;
    /** Bundles (imports): their inflated size limit and the upload form's lifetime. */
    bundleMaxUncompressedBytes?: number;
    uploadUrlExpireSeconds?: number;
    /** URLs per scrape message: a long list fans out over several messages. */
    urlsPerMessage?: number;
    /** Runs of up to this many records build their search documents inside the run (tests lower it). */
    inlineIndexMaxRecords?: number;
    /** Background deletes (lib/services/deletes.ts): records per transaction, and a message's time. */
    deleteChunkRecords?: number;
    deleteBudgetMs?: number;
  };
};

/** Records are upserted this many at a time: bounded memory, few round trips. */
const UPSERT_BATCH = 1000;
/** An upserting run looks whether its datasource was deleted meanwhile every this many batches (every run at its end). */
const DELETED_CHECK_BATCHES = 10;

/** Its datasource was marked `deleting` while a run wrote: the run's transaction rolls back. */
class RunOfDeletedDatasource extends Error {
  override name = 'RunOfDeletedDatasource';
}
const URLS_PER_MESSAGE = 20;
const SCRAPE_CONCURRENCY = 4;

/** A message that can never be processed (not JSON, unknown shape): retried, then dead-lettered. */
export class PoisonMessageError extends Error {
  override name = 'PoisonMessageError';
}

/**
 * Handles one message of the ingest queue. Idempotent: a redelivered or duplicate message ends
 * with the same records as one delivery. Problems with the input (a corrupt file, a bad URL)
 * fail the datasource with a reason and are not retried; anything else throws, so the queue
 * retries it and finally dead-letters it.
 */
export async function handleIngestMessage(deps: IngestDeps, body: string): Promise<void> {
  let parsed: IngestMessage;
  try {
    parsed = IngestMessage.parse(JSON.parse(body));
  } catch (cause) {
    throw new PoisonMessageError('Not an ingest message', { cause });
  }
  if ('Event' in parsed) return; // S3's test event when notifications are configured
  if ('Records' in parsed) {
    for (const record of parsed.Records) {
      if (!record.eventName.startsWith('ObjectCreated')) continue;
      // The copy of an accepted upload (S3 announces copies too): already ours.
      if (isStoredFileKey(decodeEventKey(record.s3.object.key))) continue;
      const bundle = importOfKey(decodeEventKey(record.s3.object.key));
      if (bundle) {
        await runImport(bundleDeps(deps), bundle);
        continue;
      }
      const owner = datasourceOfKey(record.s3.object.key);
      if (!owner) {
        deps.log.warn('Upload outside any datasource ignored', { key: record.s3.object.key });
        continue;
      }
      await acceptUpload(deps, owner);
    }
    return;
  }
  switch (parsed.kind) {
    case 'process_datasource':
      return processDatasource(deps, parsed.datasource_id, parsed.run_id);
    case 'scrape_urls':
      return scrapeUrls(deps, parsed);
    case 'purge_objects':
      return purgeObjects(deps, parsed);
    case 'append_url':
      return appendUrl(deps, parsed);
    case 'index_search':
      return indexSearch(deps, parsed);
    case 'export_bundle':
      return runExport(bundleDeps(deps), parsed.export_id);
    case 'share_bundle':
      return runShareExport(bundleDeps(deps), parsed.import_id);
    case 'delete_datasource':
      return deleteDatasourceStep(deps, parsed);
    case 'delete_workspace':
      return deleteWorkspaceStep(deps, parsed);
  }
}

function bundleDeps(deps: IngestDeps) {
  return {
    db: deps.db,
    objects: deps.objects,
    log: deps.log,
    settings: {
      ingestQueue: deps.settings.ingestQueue,
      maxUploadBytes: deps.settings.maxUploadBytes,
      maxUncompressedBytes: deps.settings.bundleMaxUncompressedBytes ?? 4 * 1024 ** 3,
      uploadUrlExpireSeconds: deps.settings.uploadUrlExpireSeconds ?? 3600,
    },
  };
}

/**
 * An upload landed on a datasource's form key. It is taken only while the datasource is
 * `awaiting_upload` for that key: then it is copied to a key of its own (which the datasource
 * keeps from now on) and processed. Anything else is a stray and deleted: a form used after its
 * datasource was deleted, or again after its file was taken. That is what keeps the file under
 * a datasource's records from being swapped: a presigned S3 POST cannot be revoked once signed.
 */
async function acceptUpload(
  deps: IngestDeps,
  upload: { workspaceId: string; datasourceId: string; key: string },
): Promise<void> {
  const find = () =>
    deps.db
      .selectFrom('datasources')
      .selectAll()
      .where('id', '=', upload.datasourceId)
      .where('workspace_id', '=', upload.workspaceId)
      .executeTakeFirst();
  let source = await find();
  if (source?.status === 'awaiting_upload' && source.object_key === upload.key) {
    const stored = storedFileKey(upload.key);
    await deps.objects.copy(upload.key, stored);
    const claimed = await deps.db
      .updateTable('datasources')
      .set({ object_key: stored, status: 'pending' })
      .where('id', '=', source.id)
      .where('status', '=', 'awaiting_upload')
      .where('object_key', '=', upload.key)
      .returningAll()
      .executeTakeFirst();
    // Another delivery of an upload to this form won: its copy is the file.
    if (!claimed) await deps.objects.delete(stored);
    source = claimed ?? (await find());
  }
  // Kept only when it is still the datasource's file (stored before uploads were copied).
  if (source?.object_key !== upload.key) {
    deps.log.info('Upload not awaited by its datasource deleted', {
      key: upload.key,
      datasource_status: source?.status ?? 'deleted',
    });
    await deps.objects.delete(upload.key);
  }
  if (source && source.status !== 'awaiting_upload') await processDatasource(deps, source.id, source.run_id);
}

/** Deletes the objects of a deleted workspace or datasource; refuses while the owner exists. */
async function purgeObjects(deps: IngestDeps, message: PurgeObjects): Promise<void> {
  const owner = ownerOfPrefix(message.prefix);
  if (!owner) return;
  const alive = owner.datasourceId
    ? await deps.db
        .selectFrom('datasources')
        .select('id')
        .where('id', '=', owner.datasourceId)
        .executeTakeFirst()
    : await deps.db
        .selectFrom('workspaces')
        .select('id')
        .where('id', '=', owner.workspaceId)
        .executeTakeFirst();
  if (alive) {
    deps.log.warn('Purge of a folder whose owner exists refused', { prefix: message.prefix });
    return;
  }
  await deps.objects.deletePrefix(message.prefix);
}

/**
 * Scrapes a URL appended to a url_list source into an appended record (a reprocess leaves it
 * alone). An unscrapable URL is recorded in `datasource_failures` (no run) with the reason,
 * and in the datasource's `metadata.failed_appends`; appending it again retries it.
 */
async function appendUrl(deps: IngestDeps, message: AppendUrl): Promise<void> {
  const source = await deps.db
    .selectFrom('datasources')
    .selectAll()
    .where('id', '=', message.datasource_id)
    .where('type', '=', 'url_list')
    .where('status', '!=', 'deleting')
    .executeTakeFirst();
  if (!source) return;
  const exists = await deps.db
    .selectFrom('records')
    .select('id')
    .where('datasource_id', '=', source.id)
    .where('source_key', '=', message.url)
    .executeTakeFirst();
  if (exists) return;
  let page: Awaited<ReturnType<typeof scrapeUrl>>;
  try {
    page = await scrapeUrl(message.url, { allowPrivateHosts: deps.settings.scraperAllowPrivateHosts });
  } catch (error) {
    if (!(error instanceof IngestError)) throw error;
    await recordAppendFailure(deps.db, source.id, message.url, error.reason);
    return;
  }
  await deps.db.transaction().execute(async (trx) => {
    const inserted = await trx
      .insertInto('records')
      .values({
        id: newId(),
        workspace_id: source.workspace_id,
        datasource_id: source.id,
        source_key: message.url,
        title: page.title,
        text_content: page.text,
        source_metadata: JSON.stringify({
          url: page.url,
          final_url: page.finalUrl,
          content_type: page.contentType,
        }),
        event_timestamp: message.event_timestamp ? new Date(message.event_timestamp) : page.publishedAt,
        content_hash: contentHash(page.text),
        appended: true,
      })
      .onConflict((oc) => oc.columns(['datasource_id', 'source_key']).doNothing())
      .returning('id')
      .executeTakeFirst();
    if (!inserted) return;
    await indexRecords(trx, { datasourceId: source.id, sourceKey: message.url });
    await trx
      .deleteFrom('datasource_failures')
      .where('datasource_id', '=', source.id)
      .where('source_key', '=', message.url)
      .where('run_id', 'is', null)
      .execute();
    await sql`UPDATE datasources SET record_count = record_count + 1,
      metadata = CASE WHEN metadata ? 'failed_appends'
        THEN jsonb_set(metadata, '{failed_appends}', coalesce((SELECT jsonb_agg(f) FROM jsonb_array_elements(metadata -> 'failed_appends') f
          WHERE f ->> 'url' <> ${message.url}), '[]'::jsonb))
        ELSE metadata END
      WHERE id = ${source.id}`.execute(trx);
  });
}

/** A failed append, with its reason: in `datasource_failures` and the datasource's metadata. */
async function recordAppendFailure(db: Db, datasourceId: string, url: string, reason: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await trx
      .insertInto('datasource_failures')
      .values({ datasource_id: datasourceId, source_key: url, reason, run_id: null })
      .onConflict((oc) => oc.columns(['datasource_id', 'source_key']).doUpdateSet({ reason, run_id: null }))
      .execute();
    const failed = await trx
      .selectFrom('datasource_failures')
      .select(['source_key as url', 'reason'])
      .where('datasource_id', '=', datasourceId)
      .where('run_id', 'is', null)
      .orderBy('created_at')
      .limit(1000)
      .execute();
    await sql`UPDATE datasources SET metadata = jsonb_set(metadata, '{failed_appends}', ${JSON.stringify(failed)}::jsonb)
      WHERE id = ${datasourceId}`.execute(trx);
  });
}

/**
 * Moves a datasource into `processing` for its current run. Returns undefined when there is
 * nothing to do: the datasource is gone, already finished, or the message is of an older run.
 */
async function claim(db: Db, id: string, runId?: string): Promise<Datasource | undefined> {
  return db
    .updateTable('datasources')
    .set({ status: 'processing', error_message: null })
    .where('id', '=', id)
    .$if(runId !== undefined, (q) => q.where('run_id', '=', runId!))
    .where('status', 'in', ['awaiting_upload', 'pending', 'processing'])
    .returningAll()
    .executeTakeFirst();
}

async function processDatasource(deps: IngestDeps, id: string, runId?: string): Promise<void> {
  const source = await claim(deps.db, id, runId);
  if (!source) {
    deps.log.info('Nothing to do for this message', { datasource_id: id });
    return;
  }
  let outcome: 'index_later' | undefined;
  try {
    switch (source.type) {
      case 'text_block':
        outcome = await syncRecords(deps, source, textRecords(source), {});
        break;
      case 'url':
      case 'url_list':
        await fanOutUrls(deps, source);
        break;
      case 'csv':
        outcome = await ingestCsv(deps, source);
        break;
      case 'pdf':
        outcome = await ingestPdf(deps, source);
        break;
    }
  } catch (error) {
    if (!(error instanceof IngestError)) throw error;
    await markFailed(deps.db, source, error.reason);
  }
  if (outcome === 'index_later') await requestIndex(deps, source);
}

/** One link of a run's index step; the next one is sent while records are left. */
async function indexSearch(deps: IngestDeps, message: IndexSearch): Promise<void> {
  const { next } = await indexDatasource(deps.db, {
    datasourceId: message.datasource_id,
    runId: message.run_id,
    after: message.after,
  });
  if (next)
    await deps.queue.send(deps.settings.ingestQueue, [{ ...message, after: next } satisfies IndexSearch]);
}

/**
 * Asks for a committed run's search documents. Lost (the queue refused, the process died), the
 * maintenance sweep asks again for datasources left `indexing`.
 */
async function requestIndex(deps: IngestDeps, source: Datasource): Promise<void> {
  const message: IndexSearch = { kind: 'index_search', datasource_id: source.id, run_id: source.run_id };
  await deps.queue
    .send(deps.settings.ingestQueue, [message])
    .catch((error: Error) => deps.log.warn('Index step not queued; the sweep sends it', { error }));
}

/** Fails a run with a reason the user sees. */
export async function markFailed(
  db: Db,
  source: Pick<Datasource, 'id' | 'run_id'>,
  reason: string,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    // Locked first: the event is recorded when the run fails, not again when a redelivery re-fails it.
    const before = await trx
      .selectFrom('datasources')
      .select('status')
      .where('id', '=', source.id)
      .forUpdate()
      .executeTakeFirst();
    const failed = await trx
      .updateTable('datasources')
      .set({ status: 'failed', error_message: reason })
      .where('id', '=', source.id)
      .where('run_id', '=', source.run_id)
      .where('status', 'not in', ['complete', 'deleting'])
      .returning(['id', 'workspace_id', 'type', 'status', 'error_message', 'record_count'])
      .executeTakeFirst();
    if (failed && before?.status !== 'failed') await recordEvents(trx, [datasourceFinished(failed)]);
  });
}

type RecordInput = Omit<
  NewDataRecord,
  'id' | 'workspace_id' | 'datasource_id' | 'content_hash' | 'source_metadata'
> & {
  source_metadata: Record<string, unknown>;
};

async function* textRecords(source: Datasource): AsyncGenerator<RecordInput> {
  yield {
    source_key: 'text',
    title: source.name,
    text_content: String(source.options.text ?? ''),
    source_metadata: {},
  };
}

/** What a run did to a datasource's records, kept in its `metadata.changes`. */
export type RunChanges = {
  /** Keys the source produced for the first time. */
  added: number;
  /** Keys whose title, text, event time or metadata changed: same record id, new content. */
  updated: number;
  /** Of `updated`, records whose text changed while classification results exist over them. */
  updated_with_results: number;
  unchanged: number;
  /** Source records whose key the source no longer produces, deleted (they had no results). */
  removed: number;
  /** Source records whose key is gone but that have results: kept, marked `removed_from_source`. */
  kept_with_results: number;
};

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
/** How JSON.stringify writes a NUL or a lone surrogate (it writes pairs as they are). */
const SUSPECT_ESCAPE = /\\u(?:0000|d[89a-f])/i;

/**
 * A string with lone surrogates replaced by U+FFFD, as UTF-8 encoding of a query parameter
 * (or of COPY data) does; inside JSON they would be escapes that jsonb refuses. A NUL is
 * refused: neither text nor jsonb can hold one.
 */
function storableString(text: string): string {
  if (text.includes('\0')) throw new NulCharacterError('Text with a NUL character cannot be stored');
  return text.replace(LONE_SURROGATE, '\uFFFD');
}

function storableStrings(_key: string, value: unknown): unknown {
  return typeof value === 'string' ? storableString(value) : value;
}

/**
 * A value as JSON that jsonb takes: serialized plainly (fast), and again with every string
 * checked and repaired only when an escape of a NUL or a lone surrogate shows.
 */
function storableJson(value: unknown): string {
  const json = JSON.stringify(value);
  return SUSPECT_ESCAPE.test(json) ? JSON.stringify(value, storableStrings) : json;
}

/** Runs `encode`; text that cannot be stored (a NUL character) fails the run with a reason. */
function storable<T>(encode: () => T): T {
  try {
    return encode();
  } catch (error) {
    if (!(error instanceof NulCharacterError)) throw error;
    throw new IngestError('The source has text with a NUL character, which cannot be stored', {
      cause: error,
    });
  }
}

/**
 * A batch of records as the one JSON parameter of an upsert, with new ids and content hashes.
 * The hash is the same whether a lone surrogate was repaired or not (UTF-8 encodes one as U+FFFD).
 */
function batchJson(batch: RecordInput[]): string {
  const rows = batch.map((r) => ({
    id: newId(),
    source_key: r.source_key,
    title: r.title ?? null,
    text_content: r.text_content,
    source_metadata: r.source_metadata,
    event_timestamp: r.event_timestamp ?? null,
    content_hash: contentHash(r.text_content),
  }));
  return storable(() => storableJson(rows));
}

const INPUT_COLUMNS = sql`id uuid, source_key text, title text, text_content text, source_metadata jsonb,
  event_timestamp timestamptz, content_hash text`;

type BatchCounts = Pick<RunChanges, 'added' | 'updated' | 'updated_with_results'>;

const COPY_COLUMNS = [
  'id',
  'workspace_id',
  'datasource_id',
  'source_key',
  'title',
  'text_content',
  'source_metadata',
  'event_timestamp',
  'content_hash',
  'seen_run',
] as const;
/** Records per chunk handed to the connection (about 40 KB of COPY data for CSV rows). */
const COPY_CHUNK_RECORDS = 100;

/**
 * Writes a run's records into a datasource that had none when the run began: nothing to
 * compare with, so one `COPY records FROM STDIN` on the run's connection, fed as the records
 * are read (the next chunk is built while the database takes the last one). Answers how many.
 */
async function copyRecords(
  client: pg.ClientBase,
  source: Pick<Datasource, 'id' | 'workspace_id' | 'run_id'>,
  records: AsyncIterable<RecordInput>,
  onProgress?: (count: number) => Promise<void>,
): Promise<number> {
  let count = 0;
  const row = (r: RecordInput) =>
    copyRow([
      newId(),
      source.workspace_id,
      source.id,
      r.source_key,
      r.title ?? null,
      r.text_content,
      storableJson(r.source_metadata),
      r.event_timestamp?.toISOString() ?? null,
      contentHash(r.text_content),
      source.run_id,
    ]);
  async function* chunks(): AsyncGenerator<string> {
    let chunk = '';
    let size = 0;
    for await (const r of records) {
      chunk += storable(() => row(r));
      if (++size < COPY_CHUNK_RECORDS) continue;
      yield chunk;
      count += size;
      chunk = '';
      size = 0;
      void onProgress?.(count);
    }
    if (size > 0) yield chunk;
    count += size;
  }
  await copyFrom(client, 'records', COPY_COLUMNS, chunks());
  return count;
}

/**
 * Upserts one batch of a run's records by `(datasource_id, source_key)`: a key seen before keeps
 * its record id (so classification results over it stay) and gets the new content; every row is
 * stamped with the run (`seen_run`). One statement; counts come from comparing with the rows as
 * they were before it.
 */
async function upsertBatch(
  db: Db,
  source: Pick<Datasource, 'id' | 'workspace_id' | 'run_id'>,
  batch: RecordInput[],
): Promise<BatchCounts> {
  const { rows: out } = await sql<BatchCounts>`
    WITH input AS (
      SELECT * FROM jsonb_to_recordset(${batchJson(batch)}::jsonb) AS x(${INPUT_COLUMNS})
    ), old AS (
      SELECT r.id, r.source_key, r.title, r.content_hash, r.source_metadata, r.event_timestamp
      FROM records r
      WHERE r.datasource_id = ${source.id} AND r.source_key IN (SELECT source_key FROM input)
    ), up AS (
      INSERT INTO records (id, workspace_id, datasource_id, source_key, title, text_content,
        source_metadata, event_timestamp, content_hash, seen_run)
      SELECT id, ${source.workspace_id}, ${source.id}, source_key, title, text_content,
        source_metadata, event_timestamp, content_hash, ${source.run_id}::uuid
      FROM input
      ON CONFLICT (datasource_id, source_key) DO UPDATE SET
        title = excluded.title, text_content = excluded.text_content,
        source_metadata = excluded.source_metadata, event_timestamp = excluded.event_timestamp,
        content_hash = excluded.content_hash, seen_run = excluded.seen_run
      RETURNING source_key
    )
    SELECT
      count(*) FILTER (WHERE old.id IS NULL)::int AS added,
      count(*) FILTER (WHERE old.id IS NOT NULL
        AND (old.title, old.content_hash, old.source_metadata, old.event_timestamp)
          IS DISTINCT FROM (i.title, i.content_hash, i.source_metadata, i.event_timestamp))::int AS updated,
      count(*) FILTER (WHERE old.id IS NOT NULL AND old.content_hash <> i.content_hash
        AND EXISTS (SELECT 1 FROM classification_results cr WHERE cr.record_id = old.id))::int
        AS updated_with_results
    FROM up JOIN input i USING (source_key) LEFT JOIN old USING (source_key)`.execute(db);
  return out[0]!;
}

/**
 * Ends a run's record changes: the source's records the run did not produce are deleted, except
 * those with classification results, which stay, marked `removed_from_source` in their
 * `source_metadata` (results are never dropped silently). Appended records are never touched.
 * `keep` names keys that stay although unseen (URLs whose scrape failed this time).
 */
async function removeUnseen(
  db: Db,
  source: Pick<Datasource, 'id' | 'run_id'>,
  keep: 'none' | 'failed_this_run' = 'none',
): Promise<Pick<RunChanges, 'removed' | 'kept_with_results'>> {
  const failedFilter =
    keep === 'failed_this_run'
      ? sql`AND NOT EXISTS (SELECT 1 FROM datasource_failures f WHERE f.datasource_id = r.datasource_id
          AND f.source_key = r.source_key AND f.run_id = ${source.run_id}::uuid)`
      : sql``;
  const { rows } = await sql<{ removed: number; kept_with_results: number }>`
    WITH gone AS (
      SELECT r.id, EXISTS (SELECT 1 FROM classification_results cr WHERE cr.record_id = r.id) AS has_results
      FROM records r
      WHERE r.datasource_id = ${source.id} AND NOT r.appended
        AND r.seen_run IS DISTINCT FROM ${source.run_id}::uuid ${failedFilter}
    ), deleted AS (
      DELETE FROM records r USING gone WHERE r.id = gone.id AND NOT gone.has_results RETURNING r.id
    ), marked AS (
      UPDATE records r SET source_metadata = r.source_metadata || '{"removed_from_source": true}'::jsonb
      FROM gone WHERE r.id = gone.id AND gone.has_results RETURNING r.id
    )
    SELECT (SELECT count(*) FROM deleted)::int AS removed, (SELECT count(*) FROM marked)::int AS kept_with_results`.execute(
    db,
  );
  return rows[0]!;
}

/**
 * The datasource's record count, taken under its row lock: an append that commits while the run
 * ends waits for the lock and adds its own one afterwards, so none is lost or counted twice.
 */
async function lockAndCount(trx: Db, id: string): Promise<number> {
  await trx.selectFrom('datasources').select('id').where('id', '=', id).forUpdate().execute();
  const row = await trx
    .selectFrom('records')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('datasource_id', '=', id)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * Upserts a run's records in batches ({@link upsertBatch}), adding what each did to `changes`;
 * the next batch is read and built while the database writes the last one. Answers how many.
 */
async function upsertRecords(
  trx: Db,
  source: Pick<Datasource, 'id' | 'workspace_id' | 'run_id'>,
  records: AsyncIterable<RecordInput>,
  changes: RunChanges,
  onProgress?: (count: number) => Promise<void>,
  /** Throws to stop the run; called every {@link DELETED_CHECK_BATCHES} batches. */
  check?: () => Promise<void>,
): Promise<number> {
  let batch: RecordInput[] = [];
  let count = 0;
  let flushes = 0;
  // One statement in flight on the transaction's connection while the next batch is built.
  let inFlight: Promise<void> = Promise.resolve();
  const flush = async () => {
    if (batch.length === 0) return;
    const rows = batch;
    batch = [];
    await inFlight;
    if (++flushes % DELETED_CHECK_BATCHES === 0) await check?.();
    inFlight = upsertBatch(trx, source, rows).then((done) => {
      changes.added += done.added;
      changes.updated += done.updated;
      changes.updated_with_results += done.updated_with_results;
      changes.unchanged += rows.length - done.added - done.updated;
      count += rows.length;
      return onProgress?.(count);
    });
    // Awaited at the next flush or the end; a failure meanwhile must not go unhandled.
    inFlight.catch(() => undefined);
  };
  for await (const r of records) {
    batch.push(r);
    if (batch.length >= UPSERT_BATCH) await flush();
  }
  await flush();
  await inFlight;
  return count;
}

/**
 * Brings a datasource's records in line with `records` and completes the run, all in one
 * transaction: a crash half-way leaves the previous state, and the retry starts over. Records
 * keep their ids across runs (upsert by source key); appended records are left alone; what the
 * run added, changed and removed goes to `metadata.changes`. An advisory lock on the datasource
 * serialises duplicate deliveries (the second one finds the run complete and stops) while
 * leaving its row free for progress updates from outside.
 *
 * The run has a connection of its own ({@link withConnection}) so that a datasource without
 * records can take its records in one COPY ({@link copyRecords}), cheaper than inserts in both
 * node and Postgres (bench/README.md); one that has records upserts them ({@link upsertRecords}). Search documents are
 * built in the transaction for small datasources; for larger ones the run ends with
 * `search_status: indexing` and answers `'index_later'`, and the caller asks for the index step.
 *
 * A datasource deleted meanwhile (`deleting`, lib/services/deletes.ts) stops the run at its next
 * check (an upsert every {@link DELETED_CHECK_BATCHES} batches; a COPY, one statement, at its
 * end; every run under the row lock at the end): its transaction rolls back, leaving nothing
 * for the delete to wait on.
 */
async function syncRecords(
  deps: Pick<IngestDeps, 'db' | 'settings' | 'log'>,
  source: Datasource,
  records: AsyncIterable<RecordInput>,
  metadata: Record<string, unknown> | (() => Record<string, unknown>),
  onProgress?: (count: number) => Promise<void>,
): Promise<'index_later' | undefined> {
  try {
    return await syncRecordsOnce(deps, source, records, metadata, onProgress);
  } catch (error) {
    if (!(error instanceof RunOfDeletedDatasource)) throw error;
    deps.log.info('Run stopped: its datasource is being deleted', { datasource_id: source.id });
    return undefined;
  }
}

async function syncRecordsOnce(
  { db, settings }: Pick<IngestDeps, 'db' | 'settings'>,
  source: Datasource,
  records: AsyncIterable<RecordInput>,
  metadata: Record<string, unknown> | (() => Record<string, unknown>),
  onProgress?: (count: number) => Promise<void>,
): Promise<'index_later' | undefined> {
  const refuseIfDeleted = async (trx: Db) => {
    const now = await trx
      .selectFrom('datasources')
      .select('status')
      .where('id', '=', source.id)
      .executeTakeFirst();
    if (!now || now.status === 'deleting') throw new RunOfDeletedDatasource();
  };
  return withConnection(db, (conn, client) =>
    conn.transaction().execute(async (trx) => {
      await lockDatasourceRun(trx, source.id);
      const current = await trx
        .selectFrom('datasources')
        .select(['status', 'run_id'])
        .where('id', '=', source.id)
        .executeTakeFirst();
      if (!current || current.run_id !== source.run_id || current.status !== 'processing') return undefined;
      const fresh = !(await trx
        .selectFrom('records')
        .select('id')
        .where('datasource_id', '=', source.id)
        .limit(1)
        .executeTakeFirst());
      const changes: RunChanges = {
        added: 0,
        updated: 0,
        updated_with_results: 0,
        unchanged: 0,
        removed: 0,
        kept_with_results: 0,
      };
      let count: number;
      if (fresh) {
        count = await copyRecords(client, source, records, onProgress);
        changes.added = count;
      } else
        count = await upsertRecords(trx, source, records, changes, onProgress, () => refuseIfDeleted(trx));
      // Every record of a fresh datasource is this run's (appends are never unseen).
      if (!fresh) Object.assign(changes, await removeUnseen(trx, source));
      const extra = typeof metadata === 'function' ? metadata() : metadata;
      const total = await lockAndCount(trx, source.id);
      await refuseIfDeleted(trx);
      const indexNow = total <= (settings.inlineIndexMaxRecords ?? INLINE_INDEX_MAX_RECORDS);
      if (indexNow) await indexRecords(trx, { datasourceId: source.id });
      await trx
        .updateTable('datasources')
        .set({
          status: 'complete',
          error_message: null,
          record_count: total,
          search_status: indexNow ? 'ready' : 'indexing',
          metadata: JSON.stringify({
            ...extra,
            record_count: total,
            source_records: count,
            changes,
            completed_at: new Date().toISOString(),
          }),
        })
        .where('id', '=', source.id)
        .returning(['id', 'workspace_id', 'type', 'status', 'error_message', 'record_count'])
        .executeTakeFirstOrThrow()
        .then((done) => recordEvents(trx, [datasourceFinished(done)]));
      return indexNow ? undefined : 'index_later';
    }),
  );
}

/**
 * Progress, written outside the run's transaction so that pollers see it move. Never awaited
 * by the run, which holds a connection: waiting for a second one from the same pool deadlocks
 * once every connection is a run waiting so. Best effort: one write in flight, skipped while
 * the row is locked (a delete waiting on the run), never after the run finished.
 */
function progressReporter(db: Db, source: Datasource, total?: number) {
  let last = 0;
  let inFlight = false;
  return async (count: number) => {
    if (inFlight || Date.now() - last < 1000) return;
    last = Date.now();
    inFlight = true;
    const free = sql<string>`(SELECT id FROM datasources WHERE id = ${source.id} FOR NO KEY UPDATE SKIP LOCKED)`;
    void db
      .updateTable('datasources')
      .set({
        metadata: JSON.stringify({ progress: { processed: count, ...(total !== undefined && { total }) } }),
      })
      .where('id', '=', free)
      .where('run_id', '=', source.run_id)
      .where('status', '=', 'processing')
      .execute()
      .catch(() => {})
      .finally(() => {
        inFlight = false;
      });
  };
}

async function readUpload(deps: IngestDeps, source: Datasource): Promise<Readable> {
  if (!source.object_key) throw new IngestError('The datasource has no file');
  const info = await deps.objects.head(source.object_key);
  if (!info) throw new IngestError('The file has not been uploaded');
  if (info.size === 0) throw new IngestError('The file is empty');
  // The presigned policy limits uploads already; this also covers stores that do not enforce it.
  if (info.size > deps.settings.maxUploadBytes) {
    throw new IngestError(`The file is larger than the limit of ${deps.settings.maxUploadBytes} bytes`);
  }
  return deps.objects.read(source.object_key);
}

function parseTimestamp(value: string | undefined): Date | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** The CSV datasource options that say how to read the file, as the CSV reader takes them. */
export function csvReadOptions(options: Record<string, unknown>): CsvOptions {
  const { delimiter, encoding, skip_rows } = options as {
    delimiter?: string;
    encoding?: string;
    skip_rows?: number;
  };
  return {
    ...(delimiter && { delimiter }),
    ...(encoding && { encoding }),
    ...(skip_rows !== undefined && { skipRows: skip_rows }),
  };
}

async function ingestCsv(deps: IngestDeps, source: Datasource): Promise<'index_later' | undefined> {
  const options = source.options as {
    text_columns?: string[];
    title_column?: string;
    event_timestamp_column?: string;
  };
  const csv = await openCsv(await readUpload(deps, source), csvReadOptions(source.options));
  for (const column of [
    options.title_column,
    options.event_timestamp_column,
    ...(options.text_columns ?? []),
  ]) {
    if (column !== undefined && !csv.columns.includes(column)) {
      csv.close();
      throw new IngestError(`The CSV has no column "${column}" (it has: ${csv.columns.join(', ')})`);
    }
  }
  let rows = 0;
  let badTimestamps = 0;
  async function* records(): AsyncGenerator<RecordInput> {
    for await (const row of csv.rows) {
      rows++;
      const text = csvRecordText(row.values, options.text_columns);
      if (!text) continue;
      const rawTime = options.event_timestamp_column ? row.values[options.event_timestamp_column] : undefined;
      const eventTimestamp = parseTimestamp(rawTime);
      if (rawTime && !eventTimestamp) badTimestamps++;
      yield {
        source_key: `row:${row.rowNumber}`,
        title: options.title_column ? row.values[options.title_column] || null : null,
        text_content: text,
        event_timestamp: eventTimestamp,
        source_metadata: { row_number: row.rowNumber, row_data: row.values },
      };
    }
    if (rows === 0) throw new IngestError('The CSV has a header but no data rows');
  }
  try {
    return await syncRecords(
      deps,
      source,
      records(),
      () => ({
        columns: csv.columns,
        row_count: rows,
        delimiter: csv.format.delimiter,
        encoding: csv.format.encoding,
        ...(badTimestamps > 0 && { unparsed_timestamps: badTimestamps }),
      }),
      progressReporter(deps.db, source),
    );
  } finally {
    csv.close();
  }
}

async function ingestPdf(deps: IngestDeps, source: Datasource): Promise<'index_later' | undefined> {
  const pdf = await extractPdf(await readAll(await readUpload(deps, source)));
  const split = (source.options.split as string | undefined) ?? 'page';
  const filename = source.object_key?.split('/').at(-1) ?? source.name;
  const pages: { pageNumber: number; text: string }[] = [];
  let emptyPages = 0;
  async function* records(): AsyncGenerator<RecordInput> {
    for await (const page of pdf.pages) {
      if (!page.text) {
        emptyPages++;
        continue;
      }
      if (split === 'document') {
        pages.push(page);
        continue;
      }
      yield {
        source_key: `page:${page.pageNumber}`,
        title: `${filename} – page ${page.pageNumber}`,
        text_content: page.text,
        source_metadata: { filename, page_number: page.pageNumber, page_count: pdf.pageCount },
      };
    }
    if (split === 'document' && pages.length > 0) {
      yield {
        source_key: 'document',
        title: filename,
        text_content: pages.map((p) => p.text).join('\n\n'),
        source_metadata: { filename, page_count: pdf.pageCount },
      };
    }
    if (emptyPages === pdf.pageCount) {
      throw new IngestError(
        'The PDF has no extractable text (scanned pages need OCR, which docsift does not do)',
      );
    }
  }
  try {
    return await syncRecords(
      deps,
      source,
      records(),
      () => ({ filename, page_count: pdf.pageCount, empty_pages: emptyPages, split }),
      progressReporter(deps.db, source, pdf.pageCount),
    );
  } finally {
    await pdf.close();
  }
}

/**
 * Starts a URL run: resets the run's bookkeeping (once per run, so a retried fan-out does not
 * reset what its first messages already did) and sends the URLs in slices. Records of earlier
 * runs stay: each URL's record is updated in place when scraped again.
 */
async function fanOutUrls(deps: IngestDeps, source: Datasource): Promise<void> {
  const urls = source.type === 'url' ? [String(source.options.url)] : (source.options.urls as string[]);
  await deps.db.transaction().execute(async (trx) => {
    const locked = await trx
      .selectFrom('datasources')
      .select('metadata')
      .where('id', '=', source.id)
      .forUpdate()
      .executeTakeFirst();
    if (locked?.metadata.fanout_run_id === source.run_id) return;
    // Failures of earlier runs go; failed appends (no run) stay until the URL is appended again.
    await trx
      .deleteFrom('datasource_failures')
      .where('datasource_id', '=', source.id)
      .where('run_id', 'is not', null)
      .execute();
    await trx
      .updateTable('datasources')
      .set({
        metadata: JSON.stringify({
          url_count: urls.length,
          fanout_run_id: source.run_id,
          changes: { added: 0, updated: 0, updated_with_results: 0, unchanged: 0 },
        }),
      })
      .where('id', '=', source.id)
      .execute();
  });
  const size = deps.settings.urlsPerMessage ?? URLS_PER_MESSAGE;
  const messages: ScrapeUrls[] = [];
  for (let i = 0; i < urls.length; i += size) {
    messages.push({
      kind: 'scrape_urls',
      datasource_id: source.id,
      run_id: source.run_id,
      urls: urls.slice(i, i + size),
    });
  }
  await deps.queue.send(deps.settings.ingestQueue, messages);
}

/** Scrapes one slice of a URL run, each URL once, then completes the run if it was the last. */
async function scrapeUrls(deps: IngestDeps, message: ScrapeUrls): Promise<void> {
  const source = await deps.db
    .selectFrom('datasources')
    .selectAll()
    .where('id', '=', message.datasource_id)
    .where('run_id', '=', message.run_id)
    .where('status', '=', 'processing')
    .executeTakeFirst();
  if (!source) return;
  const done = new Set(
    (
      await deps.db
        .selectFrom('records')
        .select('source_key')
        .where('datasource_id', '=', source.id)
        .where('seen_run', '=', source.run_id)
        .where('source_key', 'in', message.urls)
        .union(
          deps.db
            .selectFrom('datasource_failures')
            .select('source_key')
            .where('datasource_id', '=', source.id)
            .where('run_id', '=', source.run_id)
            .where('source_key', 'in', message.urls),
        )
        .execute()
    ).map((r) => r.source_key),
  );
  const todo = message.urls.filter((u) => !done.has(u));
  for (let i = 0; i < todo.length; i += SCRAPE_CONCURRENCY) {
    await Promise.all(todo.slice(i, i + SCRAPE_CONCURRENCY).map((url) => scrapeOne(deps, source, url)));
  }
  await completeUrlRun(deps.db, source);
}

/**
 * Scrapes one URL of a run into its record (kept id, new content) and counts the change in the
 * datasource's `metadata.changes`, in one transaction so a retry neither loses nor doubles it.
 */
async function scrapeOne(deps: IngestDeps, source: Datasource, url: string): Promise<void> {
  try {
    const page = await scrapeUrl(url, { allowPrivateHosts: deps.settings.scraperAllowPrivateHosts });
    await deps.db.transaction().execute(async (trx) => {
      // A duplicate delivery scraping the same URL of the same run waits here, then finds it seen.
      await sql`SELECT pg_advisory_xact_lock(hashtextextended(${`${source.id} ${url}`}, 0))`.execute(trx);
      const seen = await trx
        .selectFrom('records')
        .select('id')
        .where('datasource_id', '=', source.id)
        .where('source_key', '=', url)
        .where('seen_run', '=', source.run_id)
        .executeTakeFirst();
      if (seen) return;
      const counts = await upsertBatch(trx, source, [
        {
          source_key: url,
          title: page.title,
          text_content: page.text,
          event_timestamp: page.publishedAt,
          source_metadata: { url, final_url: page.finalUrl, content_type: page.contentType },
        },
      ]);
      await indexRecords(trx, { datasourceId: source.id, sourceKey: url });
      const change = counts.added ? 'added' : counts.updated ? 'updated' : 'unchanged';
      await bumpChanges(trx, source.id, {
        [change]: 1,
        ...(counts.updated_with_results && { updated_with_results: 1 }),
      });
    });
  } catch (error) {
    if (!(error instanceof IngestError)) throw error;
    await deps.db
      .insertInto('datasource_failures')
      .values({ datasource_id: source.id, source_key: url, reason: error.reason, run_id: source.run_id })
      .onConflict((oc) =>
        oc
          .columns(['datasource_id', 'source_key'])
          .doUpdateSet({ reason: error.reason, run_id: source.run_id }),
      )
      .execute();
  }
}

/** Adds to the counters in a datasource's `metadata.changes`. */
async function bumpChanges(
  db: Db,
  id: string,
  add: Partial<Record<keyof RunChanges, number>>,
): Promise<void> {
  let expression = sql`coalesce(metadata -> 'changes', '{}'::jsonb)`;
  for (const [key, n] of Object.entries(add)) {
    expression = sql`jsonb_set(${expression}, ${sql.lit(`{${key}}`)}::text[],
      to_jsonb(coalesce((metadata -> 'changes' ->> ${key})::int, 0) + ${n}::int))`;
  }
  await sql`UPDATE datasources SET metadata = jsonb_set(metadata, '{changes}', ${expression}) WHERE id = ${id}`.execute(
    db,
  );
}

/**
 * Completes a URL run once every URL has a record or a failure of this run: the source's
 * records of URLs no longer listed are removed (or kept when results exist over them), a URL
 * that failed this time keeps its earlier record, and the failures go in metadata.
 */
async function completeUrlRun(db: Db, source: Datasource): Promise<void> {
  await db.transaction().execute(async (trx) => {
    const locked = await trx
      .selectFrom('datasources')
      .select(['status', 'run_id', 'metadata'])
      .where('id', '=', source.id)
      .forUpdate()
      .executeTakeFirst();
    if (!locked || locked.run_id !== source.run_id || locked.status !== 'processing') return;
    const counts = await trx
      .selectNoFrom((eb) => [
        eb
          .selectFrom('records')
          .select(sql<number>`count(*)::int`.as('n'))
          .where('datasource_id', '=', source.id)
          .where('seen_run', '=', source.run_id)
          .as('records'),
        eb
          .selectFrom('datasource_failures')
          .select(sql<number>`count(*)::int`.as('n'))
          .where('datasource_id', '=', source.id)
          .where('run_id', '=', source.run_id)
          .as('failures'),
      ])
      .executeTakeFirstOrThrow();
    const records = Number(counts.records);
    const failures = Number(counts.failures);
    const total = Number(locked.metadata.url_count ?? 0);
    if (records + failures < total) {
      await trx
        .updateTable('datasources')
        .set({
          metadata: JSON.stringify({
            ...locked.metadata,
            progress: { processed: records + failures, total },
          }),
        })
        .where('id', '=', source.id)
        .execute();
      return;
    }
    const removal = await removeUnseen(trx, source, 'failed_this_run');
    const failed = await trx
      .selectFrom('datasource_failures')
      .select(['source_key as url', 'reason'])
      .where('datasource_id', '=', source.id)
      .where('run_id', '=', source.run_id)
      .orderBy('created_at')
      .limit(1000)
      .execute();
    const recordCount = await lockAndCount(trx, source.id);
    const metadata = {
      url_count: total,
      scraped: records,
      failed_urls: failed,
      changes: { ...(locked.metadata.changes as object), ...removal },
      completed_at: new Date().toISOString(),
    };
    await trx
      .updateTable('datasources')
      .set({
        status: records > 0 ? 'complete' : 'failed',
        error_message: records > 0 ? null : 'No URL could be scraped (see metadata.failed_urls)',
        record_count: recordCount,
        metadata: JSON.stringify(metadata),
      })
      .where('id', '=', source.id)
      .returning(['id', 'workspace_id', 'type', 'status', 'error_message', 'record_count'])
      .executeTakeFirstOrThrow()
      .then((done) => recordEvents(trx, [datasourceFinished(done)]));
  });
}

/**
 * The datasource a dead-lettered message was about, so its run can be failed with a reason.
 * Undefined for messages that name none (garbage, S3 keys outside datasources).
 */
export function datasourceOfMessage(body: string): { id: string; runId?: string } | undefined {
  try {
    const parsed = IngestMessage.parse(JSON.parse(body));
    if ('Event' in parsed) return undefined;
    if ('Records' in parsed) {
      const owner = parsed.Records.map((r) => datasourceOfKey(r.s3.object.key)).find(Boolean);
      return owner ? { id: owner.datasourceId } : undefined;
    }
    if (
      parsed.kind === 'purge_objects' ||
      parsed.kind === 'append_url' ||
      parsed.kind === 'index_search' ||
      parsed.kind === 'export_bundle' ||
      parsed.kind === 'share_bundle' ||
      // A delete is never failed: the datasource stays `deleting`, and the sweep sends it again.
      parsed.kind === 'delete_datasource' ||
      parsed.kind === 'delete_workspace'
    )
      return undefined;
    return { id: parsed.datasource_id, runId: parsed.run_id };
  } catch {
    return undefined;
  }
}

/** The export or import a message is about. */
function bundleOfMessage(body: string): { exportId?: string; importId?: string } | undefined {
  try {
    const parsed = IngestMessage.parse(JSON.parse(body));
    if ('Event' in parsed) return undefined;
    if ('Records' in parsed) {
      const found = parsed.Records.map((r) => importOfKey(decodeEventKey(r.s3.object.key))).find(Boolean);
      return found ? { importId: found.importId } : undefined;
    }
    if ('kind' in parsed && parsed.kind === 'export_bundle') return { exportId: parsed.export_id };
    if ('kind' in parsed && parsed.kind === 'share_bundle') return { importId: parsed.import_id };
  } catch {
    return undefined;
  }
  return undefined;
}

function appendOfMessage(body: string): AppendUrl | undefined {
  try {
    const parsed = AppendUrlMessage.safeParse(JSON.parse(body));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Fails the run a dead-lettered message was about, keeping the last error seen if any. */
export async function failDeadLetter(db: Db, body: string): Promise<void> {
  const bundle = bundleOfMessage(body);
  if (bundle?.exportId) return failExport(db, bundle.exportId, 'Export failed after every retry');
  if (bundle?.importId) return failImport(db, bundle.importId, 'Import failed after every retry');
  const append = appendOfMessage(body);
  // A failed append fails that URL only, never the datasource's run.
  if (append)
    return recordAppendFailure(db, append.datasource_id, append.url, 'Processing failed after every retry');
  const owner = datasourceOfMessage(body);
  if (!owner) return;
  await db.transaction().execute(async (trx) => {
    const failed = await trx
      .updateTable('datasources')
      .set((eb) => ({
        status: 'failed',
        error_message: sql<string>`'Processing failed after every retry' || coalesce(': ' || (${eb.ref('metadata')} ->> 'last_error'), '')`,
      }))
      .where('id', '=', owner.id)
      .$if(owner.runId !== undefined, (q) => q.where('run_id', '=', owner.runId!))
      .where('status', 'not in', ['complete', 'failed', 'deleting'])
      .returning(['id', 'workspace_id', 'type', 'status', 'error_message', 'record_count'])
      .executeTakeFirst();
    if (failed) await recordEvents(trx, [datasourceFinished(failed)]);
  });
}

/** Remembers why an attempt failed, for the reason shown if the message is finally dead-lettered. */
export async function recordAttemptError(db: Db, body: string, error: unknown): Promise<void> {
  const owner = datasourceOfMessage(body);
  if (!owner) return;
  // The kind of error only: its message may name internal hosts; the log has the whole error.
  const message = error instanceof Error ? error.name : 'unknown error';
  await db
    .updateTable('datasources')
    .set((eb) => ({
      metadata: sql`${eb.ref('metadata')} || jsonb_build_object('last_error', ${message}::text)`,
    }))
    .where('id', '=', owner.id)
    .execute();
}
