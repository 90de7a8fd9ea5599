import { sql } from 'kysely';
import type { Db } from '#lib/db/database.ts';
import { toPage } from '#lib/db/paging.ts';
import type { DataRecord, Datasource, User } from '#lib/db/schema.ts';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '#lib/errors.ts';
import type { Paging } from '#lib/http/schemas/common.ts';
import { newId } from '#lib/ids.ts';
import { contentHash } from '#lib/ingest/content-hash.ts';
import { IngestError } from '#lib/ingest/errors.ts';
import type { AppendUrl } from '#lib/ingest/messages.ts';
import { normalizeUrl } from '#lib/ingest/urls.ts';
import type { Platform } from '#lib/platform.ts';
import { requireChangeableDatasource, requireWorkspace } from './access.ts';
import {
  cappedTotal,
  countSearchMatches,
  EXACT_SEARCH_COUNT_MAX,
  FEW_SEARCH_MATCHES,
  indexRecords,
  matchesSearch,
} from './record-search.ts';

export type RecordOut = {
  id: string;
  datasource_id: string;
  title: string | null;
  /** The whole text on a record's own route; in lists, its first {@link TEXT_PREVIEW_CHARS} characters. */
  text_content: string;
  /** Characters (code points) of the whole text. */
  text_length: number;
  /** True when `text_content` is a preview: fetch the record for the whole text. */
  text_truncated: boolean;
  source_metadata: Record<string, unknown>;
  event_timestamp: string | null;
  content_hash: string;
  created_at: string;
};

/**
 * Characters of text a list item carries. A list of records holding 5 MB texts would answer
 * far over the 6 MB a Lambda may return; a preview keeps an item small, and the record's own
 * route has the whole text.
 */
export const TEXT_PREVIEW_CHARS = 2000;

/** Code points, as Postgres `length()` counts them (a JS length counts UTF-16 units). */
function codePoints(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0xdc00 || c > 0xdfff) n++;
  }
  return n;
}

/**
 * A record as the API returns it. Lists pass rows whose `text_content` is already cut to a
 * preview in SQL, with the whole text's `text_length`; a record's own route passes the row.
 */
export function toRecordOut(r: DataRecord & { text_length?: number }): RecordOut {
  const textLength = r.text_length ?? codePoints(r.text_content);
  return {
    id: r.id,
    datasource_id: r.datasource_id,
    title: r.title,
    text_content: r.text_content,
    text_length: textLength,
    text_truncated: textLength > codePoints(r.text_content),
    source_metadata: r.source_metadata,
    event_timestamp: r.event_timestamp?.toISOString() ?? null,
    content_hash: r.content_hash,
    created_at: r.created_at.toISOString(),
  };
}

export type RecordFilters = Paging & {
  datasource_id?: string | undefined;
  q?: string | undefined;
  event_time_from?: string | undefined;
  event_time_to?: string | undefined;
};

export const RECORD_COLUMNS = [
  'id',
  'workspace_id',
  'datasource_id',
  'source_key',
  'title',
  'text_content',
  'source_metadata',
  'event_timestamp',
  'content_hash',
  'created_at',
] as const;

/**
 * The workspace's records narrowed by the filters (datasource, full-text `q`, event time), as
 * a query with nothing selected yet: the records list pages it, datasets materialize it.
 */
export function filterRecords(
  db: Db,
  workspaceId: string,
  filters: Omit<RecordFilters, 'limit' | 'cursor'>,
  fewMatches = false,
) {
  return db
    .selectFrom('records')
    .where('workspace_id', '=', workspaceId)
    .$if(filters.datasource_id !== undefined, (q) => q.where('datasource_id', '=', filters.datasource_id!))
    .$if(filters.q !== undefined, (q) => q.where(matchesSearch(workspaceId, filters.q!, fewMatches)))
    .$if(filters.event_time_from !== undefined, (q) =>
      q.where('event_timestamp', '>=', new Date(filters.event_time_from!)),
    )
    .$if(filters.event_time_to !== undefined, (q) =>
      q.where('event_timestamp', '<=', new Date(filters.event_time_to!)),
    );
}

/** Whether `q` is the only filter: its total is then counted on the search documents alone. */
const onlySearch = (f: RecordFilters) =>
  f.q !== undefined &&
  f.datasource_id === undefined &&
  f.event_time_from === undefined &&
  f.event_time_to === undefined;

/**
 * A page of a workspace's records, filtered, in creation order, with the filtered total. Items
 * carry a preview of their text ({@link TEXT_PREVIEW_CHARS}); the record's own route has it all.
 * With `q` the total is exact up to `exactCountMax` matches and an estimate past it
 * (`count_exact: false`): a common word over millions of records cannot be counted in time.
 */
export async function listRecords(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  filters: RecordFilters,
  exactCountMax = EXACT_SEARCH_COUNT_MAX,
) {
  await requireWorkspace(db, user, workspaceId);
  // With q the workspace's matches are counted first (on the search documents alone, through
  // the GIN index): they say whether the matches are few (see matchesSearch) and, with no
  // other filter, they are the total.
  const matches =
    filters.q === undefined ? undefined : await countSearchMatches(db, workspaceId, filters.q, exactCountMax);
  const few = matches?.exact === true && matches.count <= FEW_SEARCH_MATCHES;
  const filtered = filterRecords(db, workspaceId, filters, few);
  const [rows, total] = await Promise.all([
    filtered
      .select(RECORD_COLUMNS.filter((c) => c !== 'text_content'))
      // Cut in the database: a page of long texts never crosses the wire or fills the memory.
      .select([
        sql<string>`left(text_content, ${TEXT_PREVIEW_CHARS})`.as('text_content'),
        sql<number>`length(text_content)`.as('text_length'),
      ])
      .$if(filters.cursor !== undefined, (q) => q.where('id', '>', filters.cursor!))
      .orderBy('id')
      .limit(filters.limit + 1)
      .execute(),
    matches === undefined
      ? filtered
          .select((eb) => eb.fn.countAll<string>().as('count'))
          .executeTakeFirstOrThrow()
          .then(({ count }) => ({ count: Number(count), exact: true }))
      : onlySearch(filters)
        ? matches
        : cappedTotal(db, filtered, exactCountMax),
  ]);
  const page = toPage(rows as (DataRecord & { text_length: number })[], filters.limit);
  return { ...page, data: page.data.map(toRecordOut), count: total.count, count_exact: total.exact };
}

/** A record of the caller's workspace, or 404 (also for records of other workspaces). */
export async function getRecord(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  recordId: string,
): Promise<DataRecord> {
  await requireWorkspace(db, user, workspaceId);
  const record = await db
    .selectFrom('records')
    .select(RECORD_COLUMNS)
    .where('id', '=', recordId)
    .where('workspace_id', '=', workspaceId)
    .executeTakeFirst();
  if (!record) throw new NotFoundError('Record not found');
  return record as DataRecord;
}

export async function deleteRecord(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  recordId: string,
): Promise<void> {
  const record = await getRecord(db, user, workspaceId, recordId);
  await db.transaction().execute(async (trx) => {
    await trx.deleteFrom('records').where('id', '=', record.id).execute();
    await trx
      .updateTable('datasources')
      .set((eb) => ({ record_count: eb('record_count', '-', 1) }))
      .where('id', '=', record.datasource_id)
      .execute();
  });
}

export type AppendInput = {
  content: string;
  content_type: 'text' | 'url';
  title?: string | undefined;
  event_timestamp?: string | undefined;
};

/** The kind of content each source takes appends of, or a 422. */
function checkAppendKind(datasource: Datasource, input: AppendInput): void {
  const accepts = { text_block: 'text', url_list: 'url' } as Record<string, string | undefined>;
  if (accepts[datasource.type] === input.content_type) return;
  throw new ValidationError([
    {
      location: 'body',
      path: 'content_type',
      message: accepts[datasource.type]
        ? `A ${datasource.type} source takes content_type "${accepts[datasource.type]}"`
        : `Records cannot be appended to a ${datasource.type} source`,
    },
  ]);
}

/**
 * Appends one text record to a text_block source, at once. Texts may repeat: each appended text
 * is a record of its own. Appended records are marked so that a reprocess leaves them alone.
 */
export async function appendRecord(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasourceId: string,
  input: AppendInput,
): Promise<DataRecord> {
  if (input.content_type !== 'text') throw new Error('URLs are appended through queueUrlAppend');
  const datasource = await requireChangeableDatasource(db, user, workspaceId, datasourceId);
  checkAppendKind(datasource, input);
  return db.transaction().execute(async (trx) => {
    const record = await trx
      .insertInto('records')
      .values({
        id: newId(),
        workspace_id: workspaceId,
        datasource_id: datasourceId,
        source_key: `text:${newId()}`,
        title: input.title ?? null,
        text_content: input.content,
        source_metadata: JSON.stringify({}),
        event_timestamp: input.event_timestamp ? new Date(input.event_timestamp) : null,
        content_hash: contentHash(input.content),
        // A reprocess of the source leaves appended records alone, even while it runs.
        appended: true,
      })
      .returning(RECORD_COLUMNS)
      .executeTakeFirstOrThrow();
    await indexRecords(trx, { datasourceId, sourceKey: record.source_key });
    await trx
      .updateTable('datasources')
      .set((eb) => ({ record_count: eb('record_count', '+', 1) }))
      .where('id', '=', datasourceId)
      .execute();
    return record as DataRecord;
  });
}

/** The answer to a URL append: the page is scraped in the background. */
export type PendingAppend = { status: 'pending'; datasource_id: string; url: string; detail: string };

/**
 * Queues a URL for a url_list source: the ingest worker scrapes it into an appended record, or
 * records the failure with its reason (`metadata.failed_appends`), so the request never waits
 * for a slow page. A URL already in the source → 409; one that can never be fetched → 422.
 */
export async function queueUrlAppend(
  db: Db,
  platform: Platform,
  ingestQueue: string,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasourceId: string,
  input: AppendInput,
): Promise<PendingAppend> {
  const datasource = await requireChangeableDatasource(db, user, workspaceId, datasourceId);
  checkAppendKind(datasource, input);
  let url: string;
  try {
    url = normalizeUrl(input.content);
  } catch (error) {
    if (error instanceof IngestError)
      throw new ValidationError([{ location: 'body', path: 'content', message: error.reason }]);
    throw error;
  }
  const exists = await db
    .selectFrom('records')
    .select('id')
    .where('datasource_id', '=', datasourceId)
    .where('source_key', '=', url)
    .executeTakeFirst();
  if (exists) throw new ConflictError('This URL is already in the datasource');
  const message: AppendUrl = {
    kind: 'append_url',
    datasource_id: datasourceId,
    url,
    ...(input.event_timestamp && { event_timestamp: input.event_timestamp }),
  };
  try {
    await platform.queue.send(ingestQueue, [message]);
  } catch (cause) {
    throw new UnavailableError('The ingest queue is unavailable; try again', { cause });
  }
  return {
    status: 'pending',
    datasource_id: datasourceId,
    url,
    detail:
      "The page is scraped in the background: its record appears among the datasource's records, or the reason it failed in the datasource's metadata.failed_appends",
  };
}
