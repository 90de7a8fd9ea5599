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
  text_content: string;
  source_metadata: Record<string, unknown>;
  event_timestamp: string | null;
  content_hash: string;
  created_at: string;
};

export function toRecordOut(r: DataRecord): RecordOut {
  return {
    id: r.id,
    datasource_id: r.datasource_id,
    title: r.title,
    text_content: r.text_content,
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

/** A page of a workspace's records, filtered, in creation order, with the filtered total. */
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
      .select(RECORD_COLUMNS)
      .$if(filters.cursor !== undefined, (q) => q.where('id', '>', filters.cursor!))
      .orderBy('id')
      .limit(filters.limit + 1)
      .execute(),
    filtered.select((eb) => eb.fn.countAll<string>().as('count')).executeTakeFirstOrThrow(),
  ]);
  const page = toPage(rows as DataRecord[], filters.limit);
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
          // A reprocess of the source leaves appended records alone, even while it runs.
          appended: true,
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
