import { EXPORT_CONTENT_TYPES, type ExportFormat, exportResults } from '#lib/classify/export.ts';
import type { SchemeField } from '#lib/classify/scheme-definition.ts';
import type { Db } from '#lib/db/database.ts';
import type { ClassificationJob, User } from '#lib/db/schema.ts';
import type { ObjectInfo, ObjectStore } from '#lib/ports/objects/store.ts';
import { exportDataset } from './dataset-members.ts';
import { jobResults } from './results.ts';

/**
 * Results and dataset exports as files: the rows, serialized as they are read (keyset pages),
 * then answered inline, or streamed to the object store in bounded memory.
 */

export type { ExportFormat };

/**
 * A file being produced: its chunks come as the database pages through the rows; `count` is
 * how many items (results, members) it has written so far.
 */
export type FileSource = {
  chunks: AsyncIterable<string>;
  filename: string;
  format: ExportFormat;
  count: () => number;
};

/** How long a download link handed out for an export lives. */
export const DOWNLOAD_LINK_SECONDS = 300;

/** The columns of each scheme of a job or dataset, in the order the export lists them. */
async function schemeColumns(db: Db, schemeIds: string[]) {
  if (schemeIds.length === 0) return new Map<string, { name: string; fields: string[] }>();
  const rows = await db
    .selectFrom('classification_schemes')
    .select(['id', 'name', 'fields'])
    .where('id', 'in', schemeIds)
    .orderBy('id')
    .execute();
  const byId = new Map(rows.map((s) => [s.id, s]));
  // The job's own order of schemes, as its export always had.
  return new Map(
    schemeIds.flatMap((id) => {
      const s = byId.get(id);
      return s
        ? [[id, { name: s.name, fields: (s.fields as SchemeField[]).map((f) => f.name) }] as const]
        : [];
    }),
  );
}

/** Every result of a job with its record, as CSV, JSONL or JSON. `reader` may read the job's workspace. */
export async function jobResultsFile(
  db: Db,
  reader: Pick<User, 'id'>,
  job: ClassificationJob,
  options: { format: ExportFormat; includeText: boolean },
): Promise<FileSource> {
  const { format, includeText } = options;
  const columns = await schemeColumns(db, job.scheme_ids);
  let count = 0;
  async function* rows() {
    for await (const row of jobResults(db, reader, job.workspace_id, job.id, includeText)) {
      count++;
      yield row;
    }
  }
  return {
    chunks: exportResults(rows(), format, columns, includeText),
    filename: `job-${job.id}.${format}`,
    format,
    count: () => count,
  };
}

/** A dataset's members with their results, as CSV, JSONL or JSON. `reader` may read its workspace. */
export async function datasetFile(
  db: Db,
  reader: Pick<User, 'id'>,
  workspaceId: string,
  datasetId: string,
  options: { format: ExportFormat; includeText: boolean },
): Promise<FileSource> {
  const file = await exportDataset(db, reader, workspaceId, datasetId, options.format, options.includeText);
  return { ...file, format: options.format };
}

/** Text chunks as bytes, joined into pieces of about `size` bytes (few small writes, bounded memory). */
export async function* asBytes(chunks: AsyncIterable<string>, size = 64 * 1024): AsyncGenerator<Buffer> {
  let pending: string[] = [];
  let length = 0;
  for await (const chunk of chunks) {
    pending.push(chunk);
    length += chunk.length;
    if (length >= size) {
      yield Buffer.from(pending.join(''));
      pending = [];
      length = 0;
    }
  }
  if (length > 0) yield Buffer.from(pending.join(''));
}

/**
 * Streams a file to the object store: an S3 multipart upload of 8 MiB parts, or a local file,
 * as the rows come; at most a part and a page of rows in memory whatever its size.
 */
export function storeFile(objects: ObjectStore, key: string, file: FileSource): Promise<ObjectInfo> {
  return objects.putStream(key, asBytes(file.chunks), EXPORT_CONTENT_TYPES[file.format]);
}

/** An export's answer: the file itself, a link to it once stored, or the export written in the background. */
export type ExportAnswer<Deferred = unknown> =
  | { kind: 'inline'; body: Buffer; filename: string; contentType: string }
  | { kind: 'stored'; url: string }
  | { kind: 'deferred'; export: Deferred };

/**
 * Answers an export within a request. API Gateway and Lambda answer at most 6 MB, so the file
 * is read up to `inlineMaxBytes` (a bounded amount of work however large the export) and
 * answered inline if it ends there. A larger one is either `defer`red (the workspace's routes
 * start the export in the background), or streamed on to the object store at `storeAt` and
 * answered with a short-lived link (share links, which cannot poll an export).
 */
export async function answerExport<Deferred>(
  objects: ObjectStore,
  file: FileSource,
  options: { inlineMaxBytes: number; large: { defer: () => Promise<Deferred> } | { storeAt: string } },
): Promise<ExportAnswer<Deferred>> {
  const contentType = EXPORT_CONTENT_TYPES[file.format];
  const source = asBytes(file.chunks);
  const head: Buffer[] = [];
  let size = 0;
  for (;;) {
    const next = await source.next();
    if (next.done) return { kind: 'inline', body: Buffer.concat(head), filename: file.filename, contentType };
    head.push(next.value);
    size += next.value.length;
    if (size > options.inlineMaxBytes) break;
  }
  const { large } = options;
  if ('defer' in large) {
    // Stops the rows' query: nothing more is read.
    await source.return(undefined);
    return { kind: 'deferred', export: await large.defer() };
  }
  async function* rest() {
    yield* head;
    yield* source;
  }
  await objects.putStream(large.storeAt, rest(), contentType);
  return {
    kind: 'stored',
    url: await objects.downloadLink(large.storeAt, file.filename, DOWNLOAD_LINK_SECONDS),
  };
}
