import * as z from 'zod';
import { BUNDLE_TYPES } from '#lib/bundles/format.ts';
import { Id, Timestamp } from './common.ts';
import { Upload } from './datasources.ts';

const Counts = z.record(z.string(), z.number()).meta({ description: 'Rows by kind' });

const ExportFormat = z.enum(['bundle', 'csv', 'jsonl', 'json']);

export const ExportCreate = z
  .object({
    type: z.enum(BUNDLE_TYPES),
    resource_id: Id.optional().meta({ description: 'The datasource, scheme or job; none for a workspace' }),
    include_files: z
      .boolean()
      .default(false)
      .meta({ description: 'Add datasources’ original files (bundles only)' }),
    format: ExportFormat.default('bundle').meta({
      description:
        '`bundle`: a ZIP bundle to import elsewhere; `csv`, `jsonl`, `json`: a classification_job’s results or a dataset as one file, like its export route',
    }),
    include_text: z
      .boolean()
      .default(false)
      .meta({ description: 'Files only: each record’s text in the file' }),
  })
  .strict()
  .refine((b) => b.type === 'workspace' || b.resource_id !== undefined, {
    message: 'resource_id is required for this type',
    path: ['resource_id'],
  })
  .meta({ id: 'ExportCreate' });

export const ExportPublic = z
  .object({
    id: Id,
    workspace_id: Id,
    type: z.enum(BUNDLE_TYPES),
    resource_id: Id.nullable(),
    include_files: z.boolean(),
    format: ExportFormat,
    include_text: z.boolean(),
    status: z.enum(['pending', 'processing', 'complete', 'failed']),
    error_message: z.string().nullable(),
    bytes: z.number().nullable(),
    counts: Counts,
    download: z
      .object({ url: z.string(), expires_at: Timestamp })
      .nullable()
      .meta({ description: 'A short-lived link to the bundle or file, fresh on every read once complete' }),
    created_at: Timestamp,
    finished_at: Timestamp.nullable(),
  })
  .meta({ id: 'Export' });

export const ExportParams = z.object({ workspace_id: Id, export_id: Id });

/**
 * No body (or `{}`): a presigned upload comes back. `document`: a small JSON bundle (a
 * reference export) posted inline. `share_token`: a share link with `import` permission, whose
 * resource is copied. Multipart: one `file` (ZIP or JSON) of at most 5 MB.
 */
export const ImportCreate = z
  .object({
    document: z.record(z.string(), z.unknown()).optional().meta({
      description: 'A JSON export of the reference system, imported as it is (at most 5 MB)',
    }),
    share_token: z.string().min(1).max(200).optional().meta({
      description: 'The token of a share link with import permission: its resource is copied here',
    }),
  })
  .strict()
  .refine((b) => !(b.document && b.share_token), {
    message: 'Send either a document or a share_token, not both',
    path: ['share_token'],
  })
  .optional()
  .meta({ id: 'ImportCreate' });

export const ImportPublic = z
  .object({
    id: Id,
    workspace_id: Id,
    status: z.enum(['awaiting_upload', 'pending', 'processing', 'complete', 'failed']),
    error_message: z.string().nullable(),
    format: z.string().nullable().meta({ description: 'docsift-bundle or reference-json, once read' }),
    bundle_type: z.string().nullable(),
    signature: z
      .enum(['verified', 'unverified', 'invalid'])
      .nullable()
      .meta({ description: 'Whether the manifest was signed by this instance' }),
    counts: Counts,
    skipped: z
      .array(z.object({ kind: z.string(), count: z.number().int(), reason: z.string() }))
      .meta({ description: 'Rows left out, by kind, with the reason' }),
    source: z
      .object({ share_link_id: Id, share_token: z.literal('redacted') })
      .nullable()
      .meta({ description: 'The share link imported from (its token is never stored or shown)' }),
    upload: Upload.nullable(),
    created_at: Timestamp,
    finished_at: Timestamp.nullable(),
  })
  .meta({ id: 'Import' });

export const ImportParams = z.object({ workspace_id: Id, import_id: Id });
