import type { Readable } from 'node:stream';
import type { Logger } from '@aws-lambda-powertools/logger';
import { sql } from 'kysely';
import type { Db } from '#lib/db/database.ts';
import type { Datasource, NewDataRecord } from '#lib/db/schema.ts';
import { newId } from '#lib/ids.ts';
import { type CsvOptions, csvRecordText, openCsv } from '#lib/ingest/csv.ts';
import { IngestError } from '#lib/ingest/errors.ts';
import { datasourceOfKey, IngestMessage, type ScrapeUrls } from '#lib/ingest/messages.ts';
import { extractPdf } from '#lib/ingest/pdf.ts';
import { scrapeUrl } from '#lib/ingest/scrape.ts';
import { type ObjectStore, readAll } from '#lib/ports/objects/store.ts';
import type { QueueSender } from '#lib/ports/queue/queue.ts';
import { contentHash } from './records.ts';

export type IngestDeps = {
  db: Db;
  objects: ObjectStore;
  queue: QueueSender;
  log: Logger;
  settings: {
    ingestQueue: string;
    maxUploadBytes: number;
    scraperAllowPrivateHosts: boolean;
    /** URLs per scrape message: a long list fans out over several messages. */
    urlsPerMessage?: number;
  };
};

/** Records are written this many at a time: bounded memory, few round trips. */
const INSERT_BATCH = 1000;
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
      const owner = datasourceOfKey(record.s3.object.key);
      if (!owner) {
        deps.log.warn('Upload outside any datasource ignored', { key: record.s3.object.key });
        continue;
      }
      await processDatasource(deps, owner.datasourceId);
    }
    return;
  }
  if (parsed.kind === 'process_datasource')
    return processDatasource(deps, parsed.datasource_id, parsed.run_id);
  return scrapeUrls(deps, parsed);
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
  try {
    switch (source.type) {
      case 'text_block':
        await replaceRecords(deps.db, source, textRecords(source), {});
        return;
      case 'url':
      case 'url_list':
        await fanOutUrls(deps, source);
        return;
      case 'csv':
        await ingestCsv(deps, source);
        return;
      case 'pdf':
        await ingestPdf(deps, source);
        return;
    }
  } catch (error) {
    if (!(error instanceof IngestError)) throw error;
    await markFailed(deps.db, source, error.reason);
  }
}

/** Fails a run with a reason the user sees. */
export async function markFailed(
  db: Db,
  source: Pick<Datasource, 'id' | 'run_id'>,
  reason: string,
): Promise<void> {
  await db
    .updateTable('datasources')
    .set({ status: 'failed', error_message: reason })
    .where('id', '=', source.id)
    .where('run_id', '=', source.run_id)
    .where('status', '!=', 'complete')
    .execute();
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

/**
 * Replaces a datasource's records with `records` and completes the run, all in one
 * transaction: a crash half-way leaves the previous state, and the retry starts over. An
 * advisory lock on the datasource serialises duplicate deliveries (the second one finds the
 * run complete and stops) while leaving its row free for progress updates from outside.
 */
async function replaceRecords(
  db: Db,
  source: Datasource,
  records: AsyncIterable<RecordInput>,
  metadata: Record<string, unknown> | (() => Record<string, unknown>),
  onProgress?: (count: number) => Promise<void>,
): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtextextended(${source.id}, 0))`.execute(trx);
    const current = await trx
      .selectFrom('datasources')
      .select(['status', 'run_id'])
      .where('id', '=', source.id)
      .executeTakeFirst();
    if (!current || current.run_id !== source.run_id || current.status !== 'processing') return;
    await trx.deleteFrom('records').where('datasource_id', '=', source.id).execute();
    let batch: NewDataRecord[] = [];
    let count = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      await trx.insertInto('records').values(batch).execute();
      count += batch.length;
      batch = [];
      await onProgress?.(count);
    };
    for await (const r of records) {
      batch.push({
        ...r,
        id: newId(),
        workspace_id: source.workspace_id,
        datasource_id: source.id,
        source_metadata: JSON.stringify(r.source_metadata),
        content_hash: contentHash(r.text_content),
      });
      if (batch.length >= INSERT_BATCH) await flush();
    }
    await flush();
    const extra = typeof metadata === 'function' ? metadata() : metadata;
    await trx
      .updateTable('datasources')
      .set({
        status: 'complete',
        error_message: null,
        record_count: count,
        metadata: JSON.stringify({ ...extra, record_count: count, completed_at: new Date().toISOString() }),
      })
      .where('id', '=', source.id)
      .execute();
  });
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

async function ingestCsv(deps: IngestDeps, source: Datasource): Promise<void> {
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
    await replaceRecords(
      deps.db,
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

async function ingestPdf(deps: IngestDeps, source: Datasource): Promise<void> {
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
    await replaceRecords(
      deps.db,
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
 * Starts a URL run: clears what an earlier run left (once per run, so a retried fan-out does
 * not wipe what its first messages already scraped) and sends the URLs in slices.
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
    await trx.deleteFrom('records').where('datasource_id', '=', source.id).execute();
    await trx.deleteFrom('datasource_failures').where('datasource_id', '=', source.id).execute();
    await trx
      .updateTable('datasources')
      .set({
        record_count: 0,
        metadata: JSON.stringify({ url_count: urls.length, fanout_run_id: source.run_id }),
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
        .where('source_key', 'in', message.urls)
        .union(
          deps.db
            .selectFrom('datasource_failures')
            .select('source_key')
            .where('datasource_id', '=', source.id)
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

async function scrapeOne(deps: IngestDeps, source: Datasource, url: string): Promise<void> {
  try {
    const page = await scrapeUrl(url, { allowPrivateHosts: deps.settings.scraperAllowPrivateHosts });
    await deps.db
      .insertInto('records')
      .values({
        id: newId(),
        workspace_id: source.workspace_id,
        datasource_id: source.id,
        source_key: url,
        title: page.title,
        text_content: page.text,
        source_metadata: JSON.stringify({ url, final_url: page.finalUrl, content_type: page.contentType }),
        event_timestamp: page.publishedAt,
        content_hash: contentHash(page.text),
      })
      .onConflict((oc) => oc.columns(['datasource_id', 'source_key']).doNothing())
      .execute();
  } catch (error) {
    if (!(error instanceof IngestError)) throw error;
    await deps.db
      .insertInto('datasource_failures')
      .values({ datasource_id: source.id, source_key: url, reason: error.reason })
      .onConflict((oc) => oc.columns(['datasource_id', 'source_key']).doNothing())
      .execute();
  }
}

/** Completes a URL run once every URL has a record or a failure; the failures go in metadata. */
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
          .as('records'),
        eb
          .selectFrom('datasource_failures')
          .select(sql<number>`count(*)::int`.as('n'))
          .where('datasource_id', '=', source.id)
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
    const failed = await trx
      .selectFrom('datasource_failures')
      .select(['source_key as url', 'reason'])
      .where('datasource_id', '=', source.id)
      .orderBy('created_at')
      .limit(1000)
      .execute();
    const metadata = {
      url_count: total,
      scraped: records,
      failed_urls: failed,
      completed_at: new Date().toISOString(),
    };
    await trx
      .updateTable('datasources')
      .set({
        status: records > 0 ? 'complete' : 'failed',
        error_message: records > 0 ? null : 'No URL could be scraped (see metadata.failed_urls)',
        record_count: records,
        metadata: JSON.stringify(metadata),
      })
      .where('id', '=', source.id)
      .execute();
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
    return { id: parsed.datasource_id, runId: parsed.run_id };
  } catch {
    return undefined;
  }
}

/** Fails the run a dead-lettered message was about, keeping the last error seen if any. */
export async function failDeadLetter(db: Db, body: string): Promise<void> {
  const owner = datasourceOfMessage(body);
  if (!owner) return;
  await db
    .updateTable('datasources')
    .set((eb) => ({
      status: 'failed',
      error_message: sql<string>`'Processing failed after every retry' || coalesce(': ' || (${eb.ref('metadata')} ->> 'last_error'), '')`,
    }))
    .where('id', '=', owner.id)
    .$if(owner.runId !== undefined, (q) => q.where('run_id', '=', owner.runId!))
    .where('status', 'not in', ['complete', 'failed'])
    .execute();
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
