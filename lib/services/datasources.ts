import { sql } from 'kysely';
import type { Db } from '#lib/db/database.ts';
import { toPage } from '#lib/db/paging.ts';
import type { Datasource, DatasourceType, User } from '#lib/db/schema.ts';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '#lib/errors.ts';
import type { Paging } from '#lib/http/schemas/common.ts';
import type { DatasourceCreate } from '#lib/http/schemas/datasources.ts';
import { newId } from '#lib/ids.ts';
import { openCsv } from '#lib/ingest/csv.ts';
import { IngestError } from '#lib/ingest/errors.ts';
import type { ProcessDatasource } from '#lib/ingest/messages.ts';
import { datasourceFolder, uploadKey } from '#lib/ingest/messages.ts';
import { normalizeUrl } from '#lib/ingest/urls.ts';
import type { Platform } from '#lib/platform.ts';
import { type PresignedUpload, readAll } from '#lib/ports/objects/store.ts';
import {
  DATASOURCE_DELETING,
  requireChangeableDatasource,
  requireDatasource,
  requireWorkspace,
} from './access.ts';
import { type DeleteDeps, fitsInline, sendDeletes } from './deletes.ts';
import { csvReadOptions } from './ingestion.ts';
import { purgeFolders } from './purge.ts';

export type DatasourceOut = {
  id: string;
  workspace_id: string;
  name: string;
  type: DatasourceType;
  options: Record<string, unknown>;
  status: Datasource['status'];
  error_message: string | null;
  metadata: Record<string, unknown>;
  record_count: number;
  search_status: Datasource['search_status'];
  description: string | null;
  user_id: string | null;
  origin_details: Record<string, unknown>;
  source_metadata: Record<string, unknown>;
  data_record_count: number;
  created_at: string;
  updated_at: string;
  upload?: PresignedUpload;
};

/**
 * `options` as the reference system's clients read it (`origin_details`): a text as
 * `text_content`, cut to its first {@link OPTIONS_TEXT_PREVIEW_CHARS} characters so the answer
 * never carries a long text twice.
 */
function originDetails(options: Record<string, unknown>): Record<string, unknown> {
  const { text, ...rest } = options;
  if (typeof text !== 'string') return options;
  return { ...rest, text_content: text.slice(0, OPTIONS_TEXT_PREVIEW_CHARS) };
}

export function toDatasourceOut(d: Datasource, upload?: PresignedUpload): DatasourceOut {
  return {
    id: d.id,
    workspace_id: d.workspace_id,
    name: d.name,
    type: d.type,
    options: d.options,
    status: d.status,
    error_message: d.error_message,
    metadata: d.metadata,
    record_count: d.record_count,
    search_status: d.search_status,
    description: d.description,
    user_id: d.user_id,
    origin_details: originDetails(d.options),
    source_metadata: d.metadata,
    data_record_count: d.record_count,
    created_at: d.created_at.toISOString(),
    updated_at: d.updated_at.toISOString(),
    ...(upload && { upload }),
  };
}

export type IngestSettings = { ingestQueue: string; maxUploadBytes: number; uploadUrlExpireSeconds: number };

/** A file sent with the multipart form of the create endpoint. */
export type SentFile = { filename: string; contentType: string; bytes: Buffer };

const FILE_TYPES = new Set<string>(['csv', 'pdf', 'bulk_pdf']);

/**
 * Queues messages about rows already committed. Sent after the commit, never inside the
 * transaction: a worker that received the message first would not yet see the row. If the
 * queue refuses, `undo` takes the rows back and the caller gets a 503: nothing is left behind
 * that no message will ever process.
 */
async function sendOrUndo(
  platform: Platform,
  settings: IngestSettings,
  messages: ProcessDatasource[],
  undo: () => Promise<unknown>,
): Promise<void> {
  try {
    await platform.queue.send(settings.ingestQueue, messages);
  } catch (cause) {
    await undo();
    throw new UnavailableError('The ingest queue is unavailable; try again', { cause });
  }
}

/** One datasource row to create, before it is written. */
type Planned = {
  id: string;
  name: string;
  type: DatasourceType;
  options: Record<string, unknown>;
  filename?: string;
};

/** A URL as stored, or a 422 naming the option that holds it. */
function storedUrl(url: string, path: string): string {
  try {
    return normalizeUrl(url);
  } catch (error) {
    if (error instanceof IngestError)
      throw new ValidationError([{ location: 'body', path, message: error.reason }]);
    throw error;
  }
}

function plan(input: DatasourceCreate, files: SentFile[]): Planned[] {
  const one = (type: DatasourceType, options: Record<string, unknown>, filename?: string): Planned => ({
    id: newId(),
    name: input.name,
    type,
    options,
    ...(filename !== undefined && { filename }),
  });
  switch (input.type) {
    case 'text_block':
      return [one('text_block', input.options)];
    case 'url':
      return [one('url', { url: storedUrl(input.options.url, 'options.url') })];
    case 'url_list':
      // A URL is stored once per datasource.
      return [
        one('url_list', {
          urls: [...new Set(input.options.urls.map((u, i) => storedUrl(u, `options.urls.${i}`)))],
        }),
      ];
    case 'csv':
      return [one('csv', input.options, files[0]?.filename ?? 'upload.csv')];
    case 'pdf':
      return [one('pdf', input.options, files[0]?.filename ?? 'upload.pdf')];
    case 'bulk_pdf': {
      const names = files.length > 0 ? files.map((f) => f.filename) : input.options.filenames;
      return names.map((filename) => ({
        ...one('pdf', { split: input.options.split }, filename),
        name: filename,
      }));
    }
  }
}

function checkFiles(input: DatasourceCreate, files: SentFile[]): void {
  if (files.length === 0) return;
  if (!FILE_TYPES.has(input.type)) {
    throw new ValidationError([
      { location: 'body', path: 'files', message: `A ${input.type} datasource takes no files` },
    ]);
  }
  if (input.type !== 'bulk_pdf' && files.length !== 1) {
    throw new ValidationError([
      { location: 'body', path: 'files', message: 'Send exactly one file (or use bulk_pdf)' },
    ]);
  }
}

/**
 * Creates datasources as `{name, type, options}` describes: text and URL sources are queued
 * at once; file sources wait for their upload (a presigned POST in the answer) unless the
 * files came with the request. The rows and their first message are written together: if
 * the queue refuses, nothing is created.
 */
export async function createDatasources(
  db: Db,
  platform: Platform,
  user: Pick<User, 'id'>,
  workspaceId: string,
  input: DatasourceCreate,
  files: SentFile[],
  settings: IngestSettings,
): Promise<DatasourceOut[]> {
  await requireWorkspace(db, user, workspaceId);
  checkFiles(input, files);
  const planned = plan(input, files);
  const isFile = FILE_TYPES.has(input.type);

  const rows = await db
    .insertInto('datasources')
    .values(
      planned.map((p) => ({
        id: p.id,
        workspace_id: workspaceId,
        name: p.name,
        type: p.type,
        options: JSON.stringify(p.options),
        status: isFile ? ('awaiting_upload' as const) : ('pending' as const),
        metadata: JSON.stringify({}),
        run_id: newId(),
        object_key: p.filename === undefined ? null : uploadKey(workspaceId, p.id, p.filename),
      })),
    )
    .returningAll()
    .execute();
  if (!isFile) {
    const messages: ProcessDatasource[] = rows.map((d) => ({
      kind: 'process_datasource',
      datasource_id: d.id,
      run_id: d.run_id,
    }));
    await sendOrUndo(platform, settings, messages, () =>
      db
        .deleteFrom('datasources')
        .where(
          'id',
          'in',
          rows.map((r) => r.id),
        )
        .execute(),
    );
  }

  if (files.length > 0) {
    // The object's creation event starts processing, exactly as for a presigned upload. The
    // row waits for that event as `awaiting_upload`, but nothing is awaited from the client:
    // its answer says `pending`, which a client polls.
    await Promise.all(
      rows.map((row, i) => platform.objects.put(row.object_key!, files[i]!.bytes, files[i]!.contentType)),
    );
    return rows.map((row) => ({ ...toDatasourceOut(row), status: 'pending' as const }));
  }
  return Promise.all(
    rows.map(async (row) => {
      if (!row.object_key) return toDatasourceOut(row);
      const upload = await platform.objects.presignUpload(row.object_key, {
        maxBytes: settings.maxUploadBytes,
        expiresSeconds: settings.uploadUrlExpireSeconds,
      });
      return toDatasourceOut(row, upload);
    }),
  );
}

/** Characters of a text_block's text a list item carries; the datasource's own route has it all. */
export const OPTIONS_TEXT_PREVIEW_CHARS = 2000;
/** URLs (options.urls, metadata.failed_urls) a list item carries. */
export const LIST_ITEM_URLS = 100;

/**
 * A text_block's `options.text` as a list carries it, cut in the database so a page of 5 MB
 * texts never loads: the preview, `text_length` (characters of the whole text) and
 * `text_truncated`.
 */
const optionsPreview = sql<Record<string, unknown>>`CASE WHEN jsonb_typeof(options -> 'text') = 'string'
  THEN options || jsonb_build_object(
    'text', left(options ->> 'text', ${OPTIONS_TEXT_PREVIEW_CHARS}),
    'text_length', length(options ->> 'text'),
    'text_truncated', length(options ->> 'text') > ${OPTIONS_TEXT_PREVIEW_CHARS})
  ELSE options END`;

/** A long URL list cut to its first {@link LIST_ITEM_URLS}, with its full count beside it. */
function shortList(object: Record<string, unknown>, key: string, countKey: string): Record<string, unknown> {
  const list = object[key];
  if (!Array.isArray(list) || list.length <= LIST_ITEM_URLS) return object;
  return {
    ...object,
    [key]: list.slice(0, LIST_ITEM_URLS),
    [countKey]: list.length,
    [`${key}_truncated`]: true,
  };
}

/**
 * A page of the workspace's datasources. Items are kept small, whatever a datasource holds (a
 * page must fit in a Lambda's 6 MB answer): a text_block's text is a preview (see
 * {@link optionsPreview}), URL lists are cut to {@link LIST_ITEM_URLS}; the datasource's own
 * route has everything.
 */
export async function listDatasources(db: Db, user: Pick<User, 'id'>, workspaceId: string, paging: Paging) {
  await requireWorkspace(db, user, workspaceId);
  const filtered = db.selectFrom('datasources').where('workspace_id', '=', workspaceId);
  const [rows, total] = await Promise.all([
    filtered
      .select([
        'id',
        'workspace_id',
        'name',
        'type',
        'status',
        'error_message',
        'metadata',
        'record_count',
        'search_status',
        'run_id',
        'object_key',
        'user_id',
        'description',
        'created_at',
        'updated_at',
      ])
      .select(optionsPreview.as('options'))
      .$if(paging.cursor !== undefined, (q) => q.where('id', '>', paging.cursor!))
      .orderBy('id')
      .limit(paging.limit + 1)
      .execute(),
    filtered.select(sql<number>`count(*)::int`.as('count')).executeTakeFirstOrThrow(),
  ]);
  const page = toPage(rows as Datasource[], paging.limit);
  return {
    ...page,
    count: total.count,
    data: page.data.map((d) =>
      toDatasourceOut({
        ...d,
        options: shortList(d.options, 'urls', 'url_count'),
        metadata: shortList(d.metadata, 'failed_urls', 'failed_url_count'),
      }),
    ),
  };
}

/** What a client may change of a datasource; the rest is ingestion's (see updateDatasource). */
export type DatasourceChanges = {
  name?: string | null | undefined;
  description?: string | null | undefined;
  status?: string | null | undefined;
  error_message?: string | null | undefined;
  source_metadata?: Record<string, unknown> | null | undefined;
  origin_details?: Record<string, unknown> | null | undefined;
};

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Renames a datasource or sets its description. The fields ingestion owns may come along, as
 * the reference system's client sends them: absent, null or unchanged they change nothing; a
 * different value is a 409 naming it (reprocess runs a source again; a source's content does
 * not change under its records).
 */
export async function updateDatasource(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasourceId: string,
  changes: DatasourceChanges,
): Promise<Datasource> {
  const current = await requireChangeableDatasource(db, user, workspaceId, datasourceId);
  const owned: [keyof DatasourceChanges, unknown][] = [
    ['status', current.status],
    ['error_message', current.error_message],
    ['source_metadata', current.metadata],
    ['origin_details', originDetails(current.options)],
  ];
  for (const [field, now] of owned) {
    const sent = changes[field];
    if (sent !== undefined && sent !== null && !sameJson(sent, now)) {
      throw new ConflictError(
        `${field} is set by ingestion, not by clients: reprocess the datasource to run it again`,
      );
    }
  }
  const values: { name?: string; description?: string | null } = {};
  if (changes.name !== undefined && changes.name !== null) values.name = changes.name;
  if (changes.description !== undefined) values.description = changes.description;
  if (Object.keys(values).length === 0) return current;
  return db
    .updateTable('datasources')
    .set(values)
    .where('id', '=', datasourceId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Deletes a datasource with its records and, after the commit, its stored files (a purge
 * message for the ingest worker). A small one goes in the request (`deleted`): the delete
 * itself decides who wins, of concurrent deletes one removes the row, the others find none
 * (404). A large one, or one a run is writing, is marked `deleting` (one short update) and
 * deleted by the ingest worker in chunks (lib/services/deletes.ts): the answer is the datasource
 * as it now reads (`deleting`), its records disappearing as the chunks go.
 */
export async function deleteDatasource(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasourceId: string,
  deps: DeleteDeps,
): Promise<{ deleted: true } | { deleting: Datasource }> {
  await requireWorkspace(db, user, workspaceId);
  if (await fitsInline(db, { datasourceId }, deps.inlineMaxRecords)) {
    const deleted = await db
      .deleteFrom('datasources')
      .where('id', '=', datasourceId)
      .where('workspace_id', '=', workspaceId)
      // Marked by a concurrent delete meanwhile: that one goes on in the background.
      .where('status', '!=', 'deleting')
      .returning('id')
      .executeTakeFirst();
    if (deleted) {
      await purgeFolders(deps.adapters, deps.ingestQueue)([datasourceFolder(workspaceId, datasourceId)]);
      return { deleted: true };
    }
  }
  // Marked again when already deleting: the message is sent again too (harmless), in case it was lost.
  const marked = await db
    .updateTable('datasources')
    .set({ status: 'deleting' })
    .where('id', '=', datasourceId)
    .where('workspace_id', '=', workspaceId)
    .returningAll()
    .executeTakeFirst();
  if (!marked) throw new NotFoundError('Datasource not found');
  await sendDeletes(deps, [
    { kind: 'delete_datasource', datasource_id: marked.id, workspace_id: workspaceId },
  ]);
  return { deleting: marked };
}

/**
 * Starts a new run of a datasource with its current options; the worker replaces its records
 * when the run completes. A file source whose file never arrived stays waiting for it.
 */
export async function reprocessDatasource(
  db: Db,
  platform: Platform,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasourceId: string,
  settings: IngestSettings,
): Promise<Datasource> {
  const current = await requireChangeableDatasource(db, user, workspaceId, datasourceId);
  if (current.object_key && !(await platform.objects.head(current.object_key))) {
    throw new ValidationError([
      { location: 'path', path: 'datasource_id', message: 'The file has not been uploaded yet' },
    ]);
  }
  const row = await db
    .updateTable('datasources')
    .set({ status: 'pending', error_message: null, run_id: newId() })
    .where('id', '=', datasourceId)
    // A delete that came in meanwhile wins.
    .where('status', '!=', 'deleting')
    .returningAll()
    .executeTakeFirstOrThrow(() => new ConflictError(DATASOURCE_DELETING));
  const message: ProcessDatasource = {
    kind: 'process_datasource',
    datasource_id: row.id,
    run_id: row.run_id,
  };
  await sendOrUndo(platform, settings, [message], () =>
    db
      .updateTable('datasources')
      .set({ status: 'failed', error_message: 'The run could not be queued; reprocess to try again' })
      .where('id', '=', row.id)
      .where('run_id', '=', row.run_id)
      .execute(),
  );
  return row;
}

export type CsvPreview = {
  data: { row_number: number; row_data: Record<string, string> }[];
  total_rows: number;
  columns: string[];
};

/** The stored file of a datasource, or a 404 when it has none (yet). */
async function storedKey(platform: Platform, source: Datasource, missing: string): Promise<string> {
  if (!source.object_key || !(await platform.objects.head(source.object_key)))
    throw new NotFoundError(missing);
  return source.object_key;
}

/**
 * A page of a CSV datasource's rows, read from the stored file. Once the source is processed its
 * row count is known and reading stops at the end of the page; before that, the whole file is
 * read to count it.
 */
export async function previewCsvRows(
  db: Db,
  platform: Platform,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasourceId: string,
  page: { offset: number; limit: number },
): Promise<CsvPreview> {
  const source = await requireDatasource(db, user, workspaceId, datasourceId);
  if (source.type !== 'csv') {
    throw new ValidationError([{ location: 'path', path: 'datasource_id', message: 'Not a CSV datasource' }]);
  }
  const key = await storedKey(platform, source, 'The file has not been uploaded yet');
  // A file the reader refuses (at its header or at any row: an unclosed quote, a row over
  // 1 MB) is the file's problem, not ours: a 422 with the reader's reason.
  const unreadable = (error: unknown) =>
    error instanceof IngestError
      ? new ValidationError([{ location: 'path', path: 'datasource_id', message: error.reason }])
      : error;
  let csv: Awaited<ReturnType<typeof openCsv>>;
  try {
    csv = await openCsv(await platform.objects.read(key), csvReadOptions(source.options));
  } catch (error) {
    throw unreadable(error);
  }
  const data: CsvPreview['data'] = [];
  const knownTotal = typeof source.metadata.row_count === 'number' ? source.metadata.row_count : undefined;
  let seen = 0;
  let bytes = 0;
  try {
    for await (const row of csv.rows) {
      seen++;
      if (seen > page.offset && data.length < page.limit && bytes < MAX_PREVIEW_BYTES) {
        const item = { row_number: row.rowNumber, row_data: truncateValues(row.values) };
        bytes += JSON.stringify(item).length;
        data.push(item);
      }
      const full = data.length >= page.limit || bytes >= MAX_PREVIEW_BYTES;
      if (knownTotal !== undefined && full) break;
    }
  } catch (error) {
    throw unreadable(error);
  } finally {
    csv.close();
  }
  return { data, total_rows: knownTotal ?? seen, columns: csv.columns };
}

/**
 * A page of preview rows stops growing past this many bytes (JSON), however many rows were
 * asked for: with values up to {@link MAX_PREVIEW_VALUE_CHARS} a page stays far below the 6 MB
 * a Lambda may answer. `offset` continues where the page ended (rows carry their numbers).
 */
const MAX_PREVIEW_BYTES = 1024 * 1024;
/** Longer cell values are cut to this many characters and end with `…` in a preview. */
export const MAX_PREVIEW_VALUE_CHARS = 10_000;

function truncateValues(values: Record<string, string>): Record<string, string> {
  // fromEntries defines own properties: a column named __proto__ stays a column.
  return Object.fromEntries(
    Object.entries(values).map(([column, value]) => [
      column,
      value.length > MAX_PREVIEW_VALUE_CHARS ? `${value.slice(0, MAX_PREVIEW_VALUE_CHARS)}…` : value,
    ]),
  );
}

const CONTENT_TYPES: Record<string, string> = { pdf: 'application/pdf', csv: 'text/csv' };

/**
 * Where a client gets a datasource's stored file: a short-lived download URL when the store can
 * sign one (S3), else the bytes themselves (the local store).
 */
export async function datasourceContent(
  db: Db,
  platform: Platform,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasourceId: string,
): Promise<{ redirect: string } | { filename: string; contentType: string; bytes: Buffer }> {
  const source = await requireDatasource(db, user, workspaceId, datasourceId);
  const key = await storedKey(platform, source, 'This datasource has no stored file');
  const filename = key.split('/').at(-1)!;
  const url = await platform.objects.presignDownload(key, filename);
  if (url) return { redirect: url };
  const contentType = CONTENT_TYPES[source.type] ?? 'application/octet-stream';
  return { filename, contentType, bytes: await readAll(await platform.objects.read(key)) };
}
