import * as z from 'zod';
import { Id, listOf, Paging, Timestamp } from './common.ts';
import { DATASOURCE_EXAMPLE, DATASOURCE_CREATE_EXAMPLES as EXAMPLES, listExample } from './examples.ts';

const Name = z.string().trim().min(1).max(255);
const HttpUrl = z.url({ protocol: /^https?$/, message: 'Must be an http(s) URL' }).max(2048);
const Filename = z
  .string()
  .min(1)
  .max(255)
  .refine((f) => !/[/\\\0]/.test(f), 'A file name, without folders');

export const CsvOptions = z
  .object({
    delimiter: z.string().length(1).optional(),
    encoding: z.string().min(1).max(40).optional(),
    skip_rows: z.number().int().min(0).max(1_000_000).optional(),
    text_columns: z.array(z.string().min(1)).min(1).optional(),
    title_column: z.string().min(1).optional(),
    event_timestamp_column: z.string().min(1).optional(),
  })
  .strict();

export const PdfOptions = z.object({ split: z.enum(['page', 'document']).default('page') }).strict();

/**
 * The reference system's way to say what a datasource holds, turned into docsift's `options`:
 * `origin_details` (an object, or JSON in a multipart field) with `text_content` for `text`, and
 * a CSV's `skip_rows` and `delimiter` at the top level. `options` wins where both say something;
 * nulls are "not set". Anything else in `origin_details` lands in `options`, where the type's
 * checks name it.
 */
function fromReferenceFields(input: unknown, ctx: z.RefinementCtx): unknown {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return input;
  const { origin_details, skip_rows, delimiter, ...rest } = input as Record<string, unknown>;
  if (origin_details === undefined && skip_rows === undefined && delimiter === undefined) return input;
  let origin: unknown = origin_details ?? {};
  if (typeof origin === 'string') {
    try {
      origin = JSON.parse(origin);
    } catch {
      ctx.addIssue({ code: 'custom', path: ['origin_details'], message: 'Not valid JSON', input: origin });
      return z.NEVER;
    }
  }
  if (origin === null || typeof origin !== 'object' || Array.isArray(origin)) {
    ctx.addIssue({ code: 'custom', path: ['origin_details'], message: 'An object', input: origin });
    return z.NEVER;
  }
  const options: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(origin)) {
    if (value !== null) options[key === 'text_content' ? 'text' : key] = value;
  }
  // Multipart fields are text: a number that reads as one becomes one (else the check names it).
  if (skip_rows !== undefined && skip_rows !== null)
    options.skip_rows =
      typeof skip_rows === 'string' && /^\d+$/.test(skip_rows) ? Number(skip_rows) : skip_rows;
  if (delimiter !== undefined && delimiter !== null) options.delimiter = delimiter;
  const own = rest.options && typeof rest.options === 'object' ? rest.options : {};
  return { ...rest, options: { ...options, ...own } };
}

/**
 * `{name, type, options}`: the options each type takes, checked by type. The reference
 * system's `origin_details`, `skip_rows` and `delimiter` are taken too (see fromReferenceFields).
 */
export const DatasourceCreate = z
  .preprocess(
    fromReferenceFields,
    z.discriminatedUnion('type', [
      z
        .object({
          name: Name,
          type: z.literal('text_block'),
          options: z.object({ text: z.string().min(1).max(5_000_000) }).strict(),
        })
        .meta({ id: 'DatasourceCreateTextBlock', example: EXAMPLES.text_block }),
      z
        .object({ name: Name, type: z.literal('url'), options: z.object({ url: HttpUrl }).strict() })
        .meta({ id: 'DatasourceCreateUrl', example: EXAMPLES.url }),
      z
        .object({
          name: Name,
          type: z.literal('url_list'),
          options: z.object({ urls: z.array(HttpUrl).min(1).max(10_000) }).strict(),
        })
        .meta({ id: 'DatasourceCreateUrlList', example: EXAMPLES.url_list }),
      z
        .object({ name: Name, type: z.literal('csv'), options: CsvOptions.default({}) })
        .meta({ id: 'DatasourceCreateCsv', example: EXAMPLES.csv }),
      z
        .object({ name: Name, type: z.literal('pdf'), options: PdfOptions.default({ split: 'page' }) })
        .meta({ id: 'DatasourceCreatePdf', example: EXAMPLES.pdf }),
      z
        .object({
          name: Name,
          type: z.literal('bulk_pdf'),
          options: z
            .object({
              filenames: z.array(Filename).min(1).max(100),
              split: z.enum(['page', 'document']).default('page'),
            })
            .strict(),
        })
        .meta({ id: 'DatasourceCreateBulkPdf', example: EXAMPLES.bulk_pdf }),
    ]),
  )
  .meta({ id: 'DatasourceCreate', example: EXAMPLES.csv });
export type DatasourceCreate = z.output<typeof DatasourceCreate>;

export const Upload = z
  .object({
    method: z.literal('POST'),
    url: z.string(),
    fields: z.record(z.string(), z.string()),
    expires_at: Timestamp,
    max_bytes: z.number().int(),
  })
  .meta({ id: 'Upload', description: 'Send as multipart/form-data: every field first, then `file`' });

export const DatasourcePublic = z
  .object({
    id: Id,
    workspace_id: Id,
    name: z.string(),
    type: z.enum(['text_block', 'url', 'url_list', 'csv', 'pdf']),
    options: z.record(z.string(), z.unknown()),
    status: z.enum(['awaiting_upload', 'pending', 'processing', 'complete', 'failed', 'deleting']).meta({
      description:
        '`deleting`: deleted, its records going in the background (`record_count` falls as they go); changes to it answer 409',
    }),
    error_message: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    record_count: z.number().int(),
    search_status: z.enum(['indexing', 'ready']).meta({
      description:
        'Whether every record is findable by `q` yet: a large run completes first and builds its search index just after (`indexing`)',
    }),
    description: z.string().nullable(),
    user_id: Id.nullable().meta({ description: 'Who created it: the workspace’s owner' }),
    origin_details: z.record(z.string(), z.unknown()).meta({
      description:
        'The reference system’s name for options (a text as text_content, at most its first 2,000 characters)',
    }),
    source_metadata: z
      .record(z.string(), z.unknown())
      .meta({ description: 'The reference system’s name for metadata' }),
    data_record_count: z.number().int().meta({ description: 'The reference system’s name for record_count' }),
    created_at: Timestamp,
    updated_at: Timestamp,
    upload: Upload.optional(),
  })
  .meta({ id: 'DatasourcePublic', example: DATASOURCE_EXAMPLE });

export const DatasourcesPublic = listOf(DatasourcePublic).meta({
  id: 'DatasourcesPublic',
  example: listExample(DATASOURCE_EXAMPLE),
});

/**
 * A rename or a new description. The reference system's client sends the datasource's
 * server-owned fields too (`status`, `error_message`, `source_metadata`, `origin_details`):
 * null or unchanged they are fine, a change is a 409 (ingestion owns them).
 */
export const DatasourceUpdate = z
  .object({
    name: Name.nullish(),
    description: z.string().max(10_000).nullish(),
    status: z.string().nullish(),
    error_message: z.string().nullish(),
    source_metadata: z.record(z.string(), z.unknown()).nullish(),
    origin_details: z.record(z.string(), z.unknown()).nullish(),
  })
  .strict()
  .meta({ id: 'DatasourceUpdate' });
export type DatasourceUpdate = z.output<typeof DatasourceUpdate>;

export const DatasourceParams = z.object({ workspace_id: Id, datasource_id: Id });

export const RowsQuery = z.object({
  offset: z.coerce.number().int().min(0).default(0),
  skip: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .meta({ description: 'The reference system’s name for offset' }),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

export const CsvRows = z
  .object({
    data: z.array(z.object({ row_number: z.number().int(), row_data: z.record(z.string(), z.string()) })),
    total_rows: z.number().int(),
    columns: z.array(z.string()),
  })
  .meta({ id: 'CsvRows' });

export const RecordPublic = z
  .object({
    id: Id,
    datasource_id: Id,
    title: z.string().nullable(),
    text_content: z.string().meta({
      description: 'The whole text on the record’s own route; in lists a preview (see text_truncated)',
    }),
    text_length: z.number().int().meta({ description: 'Characters of the whole text' }),
    text_truncated: z
      .boolean()
      .meta({ description: 'text_content is a preview: read the record for the whole text' }),
    source_metadata: z.record(z.string(), z.unknown()),
    event_timestamp: Timestamp.nullable(),
    content_hash: z.string(),
    created_at: Timestamp,
  })
  .meta({ id: 'RecordPublic' });

export const RecordsPublic = listOf(RecordPublic)
  .extend({
    count_exact: z.boolean().meta({
      description:
        'False when `count` is an estimate: with `q`, past 10,000 matches the total is Postgres’s estimate, not a count',
    }),
  })
  .meta({ id: 'RecordsPublic' });

export const RecordsQuery = Paging.extend({
  datasource_id: Id.optional(),
  q: z.string().trim().min(1).max(500).optional().meta({
    description:
      'Full-text search (web search syntax); a large run’s records are found once its datasource’s search_status is ready',
  }),
  event_time_from: z.iso.datetime({ offset: true }).optional(),
  event_time_to: z.iso.datetime({ offset: true }).optional(),
});

export const RecordParams = z.object({ workspace_id: Id, record_id: Id });

export const RecordAppend = z
  .object({
    content: z.string().min(1).max(5_000_000),
    content_type: z.enum(['text', 'url']),
    title: z
      .string()
      .trim()
      .max(1000)
      .nullish()
      .transform((v) => v || undefined),
    event_timestamp: z.iso
      .datetime({ offset: true })
      .nullish()
      .transform((v) => v ?? undefined),
  })
  .meta({ id: 'RecordAppend' });

/** The answer to appending a URL: 202, scraped in the background (`location`: the datasource). */
export const RecordAppendPending = z
  .object({
    status: z.literal('pending'),
    datasource_id: Id,
    url: z.string(),
    detail: z.string(),
  })
  .meta({ id: 'RecordAppendPending' });
