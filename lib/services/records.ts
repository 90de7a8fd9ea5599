import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from '#lib/db/database.ts';
import { isUniqueViolation } from '#lib/db/errors.ts';
import { toPage } from '#lib/db/paging.ts';
import type { DataRecord, User } from '#lib/db/schema.ts';
import { ConflictError, NotFoundError, ValidationError } from '#lib/http/errors.ts';
import type { Paging } from '#lib/http/schemas/common.ts';
import { newId } from '#lib/ids.ts';
import { requireDatasource } from './datasources.ts';
import { requireWorkspace } from './workspaces.ts';

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

/** The hash that identifies a record's text (the reference system's `content_hash`). */
export function contentHash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export type RecordFilters = Paging & {
  datasource_id?: string | undefined;
  q?: string | undefined;
  event_time_from?: string | undefined;
  event_time_to?: string | undefined;
};

const RECORD_COLUMNS = [
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
 * A page of a workspace's records, filtered, in creation order, with the filtered total. Items
 * carry a preview of their text ({@link TEXT_PREVIEW_CHARS}); the record's own route has it all.
 */
export async function listRecords(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  filters: RecordFilters,
) {
  await requireWorkspace(db, user, workspaceId);
  const filtered = db
    .selectFrom('records')
    .where('workspace_id', '=', workspaceId)
    .$if(filters.datasource_id !== undefined, (q) => q.where('datasource_id', '=', filters.datasource_id!))
    .$if(filters.q !== undefined, (q) =>
      q.where(sql<boolean>`search @@ websearch_to_tsquery('simple', ${filters.q})`),
    )
    .$if(filters.event_time_from !== undefined, (q) =>
      q.where('event_timestamp', '>=', new Date(filters.event_time_from!)),
    )
    .$if(filters.event_time_to !== undefined, (q) =>
      q.where('event_timestamp', '<=', new Date(filters.event_time_to!)),
    );
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
    filtered.select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow(),
  ]);
  const page = toPage(rows as (DataRecord & { text_length: number })[], filters.limit);
  return { ...page, data: page.data.map(toRecordOut), count: Number(total.count) };
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
  event_timestamp?: string | undefined;
};

/** What a scraped URL contributes to its record. */
export type RecordContent = {
  sourceKey: string;
  title: string | null;
  text: string;
  metadata: Record<string, unknown>;
  eventTimestamp: Date | null;
};

/**
 * Appends one record to a text_block (text) or url_list (url) source. `resolve` turns the
 * input into the record's content (for URLs: scrapes it). A URL already in the source → 409.
 */
export async function appendRecord(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasourceId: string,
  input: AppendInput,
  resolve: (input: AppendInput) => Promise<RecordContent>,
): Promise<DataRecord> {
  const datasource = await requireDatasource(db, user, workspaceId, datasourceId);
  const accepts = { text_block: 'text', url_list: 'url' } as Record<string, string | undefined>;
  if (accepts[datasource.type] !== input.content_type) {
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
  const content = await resolve(input);
  try {
    return await db.transaction().execute(async (trx) => {
      const record = await trx
        .insertInto('records')
        .values({
          id: newId(),
          workspace_id: workspaceId,
          datasource_id: datasourceId,
          source_key: content.sourceKey,
          title: content.title,
          text_content: content.text,
          source_metadata: JSON.stringify(content.metadata),
          event_timestamp: input.event_timestamp ? new Date(input.event_timestamp) : content.eventTimestamp,
          content_hash: contentHash(content.text),
        })
        .returning(RECORD_COLUMNS)
        .executeTakeFirstOrThrow();
      await trx
        .updateTable('datasources')
        .set((eb) => ({ record_count: eb('record_count', '+', 1) }))
        .where('id', '=', datasourceId)
        .execute();
      return record as DataRecord;
    });
  } catch (error) {
    if (isUniqueViolation(error, 'records_datasource_source_key_key')) {
      throw new ConflictError('This URL is already in the datasource');
    }
    throw error;
  }
}
