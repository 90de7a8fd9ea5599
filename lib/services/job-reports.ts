import { EXPORT_CONTENT_TYPES, EXPORTS_PREFIX, exportResults } from '#lib/classify/export.ts';
import type { SchemeField } from '#lib/classify/scheme-definition.ts';
import { summarize } from '#lib/classify/summary.ts';
import type { Db } from '#lib/db/database.ts';
import type { ClassificationJob, User } from '#lib/db/schema.ts';
import type { ObjectStore } from '#lib/ports/objects/store.ts';
import { jobResults } from './results.ts';

export type ExportFormat = 'csv' | 'jsonl' | 'json';

async function schemesOf(db: Db, schemeIds: string[]) {
  if (schemeIds.length === 0) return [];
  const rows = await db
    .selectFrom('classification_schemes')
    .select(['id', 'name', 'fields'])
    .where('id', 'in', schemeIds)
    .execute();
  return rows.map((r) => ({ id: r.id, name: r.name, fields: r.fields as SchemeField[] }));
}

/**
 * Per scheme of a job and field: label counts, or min/max/mean and a histogram. The caller has
 * checked that the job may be read.
 */
export async function jobSummary(db: Db, job: ClassificationJob) {
  const out = [];
  for (const scheme of await schemesOf(db, job.scheme_ids)) {
    const values = await db
      .selectFrom('classification_results')
      .select('value')
      .where('job_id', '=', job.id)
      .where('scheme_id', '=', scheme.id)
      .execute();
    out.push({
      scheme_id: scheme.id,
      name: scheme.name,
      results: values.length,
      fields: summarize(
        scheme.fields,
        values.map((v) => v.value),
      ),
    });
  }
  return { job_id: job.id, schemes: out };
}

/** An export: the file itself, or a download link to where it was stored. */
export type ExportFile =
  | { kind: 'inline'; body: Buffer; filename: string; contentType: string }
  | { kind: 'stored'; url: string };

/**
 * An export's answer. API Gateway and Lambda answer in one piece of at most 6 MB: a bigger
 * export is stored under `exports/<workspace>/` (expired by the bucket after a day) and handed
 * out as a short-lived download link instead; the local store signs none, so it answers inline.
 */
export async function exportFile(
  objects: ObjectStore,
  chunks: AsyncIterable<string>,
  file: { format: ExportFormat; filename: string; workspaceId: string; inlineMaxBytes: number },
): Promise<ExportFile> {
  const parts: string[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  const body = Buffer.from(parts.join(''));
  if (body.length > file.inlineMaxBytes && objects.signsDownloads) {
    const key = `${EXPORTS_PREFIX}${file.workspaceId}/${Date.now()}-${file.filename}`;
    await objects.put(key, body, EXPORT_CONTENT_TYPES[file.format]);
    return { kind: 'stored', url: (await objects.presignDownload(key, file.filename))! };
  }
  return { kind: 'inline', body, filename: file.filename, contentType: EXPORT_CONTENT_TYPES[file.format] };
}

/**
 * Every result of a job with its record, as CSV, JSONL or JSON ({@link exportFile}). `reader` is
 * someone who may read the job's workspace.
 */
export async function jobExport(
  db: Db,
  objects: ObjectStore,
  reader: Pick<User, 'id'>,
  job: ClassificationJob,
  options: { format: ExportFormat; includeText: boolean; inlineMaxBytes: number },
): Promise<ExportFile> {
  const { format, includeText } = options;
  const schemes = await schemesOf(db, job.scheme_ids);
  const columns = new Map(schemes.map((s) => [s.id, { name: s.name, fields: s.fields.map((f) => f.name) }]));
  const rows = jobResults(db, reader, job.workspace_id, job.id, includeText);
  return exportFile(objects, exportResults(rows, format, columns, includeText), {
    format,
    filename: `job-${job.id}.${format}`,
    workspaceId: job.workspace_id,
    inlineMaxBytes: options.inlineMaxBytes,
  });
}
