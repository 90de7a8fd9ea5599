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

/** `{name, type, options}`: the options each type takes, checked by type. */
export const DatasourceCreate = z
  .discriminatedUnion('type', [
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
  ])
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
    status: z.enum(['awaiting_upload', 'pending', 'processing', 'complete', 'failed']),
    error_message: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    record_count: z.number().int(),
    created_at: Timestamp,
    updated_at: Timestamp,
    upload: Upload.optional(),
  })
  .meta({ id: 'DatasourcePublic', example: DATASOURCE_EXAMPLE });

export const DatasourcesPublic = listOf(DatasourcePublic).meta({
  id: 'DatasourcesPublic',
  example: listExample(DATASOURCE_EXAMPLE),
});

export const DatasourceUpdate = z.object({ name: Name }).meta({ id: 'DatasourceUpdate' });

export const DatasourceParams = z.object({ workspace_id: Id, datasource_id: Id });

export const RowsQuery = z.object({
  offset: z.coerce.number().int().min(0).default(0),
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

export const RecordsPublic = listOf(RecordPublic).meta({ id: 'RecordsPublic' });

export const RecordsQuery = Paging.extend({
  datasource_id: Id.optional(),
  q: z
    .string()
    .trim()
    .min(1)
    .max(500)
    .optional()
    .meta({ description: 'Full-text search (web search syntax)' }),
  event_time_from: z.iso.datetime({ offset: true }).optional(),
  event_time_to: z.iso.datetime({ offset: true }).optional(),
});

export const RecordParams = z.object({ workspace_id: Id, record_id: Id });

export const RecordAppend = z
  .object({
    content: z.string().min(1).max(5_000_000),
    content_type: z.enum(['text', 'url']),
    event_timestamp: z.iso.datetime({ offset: true }).optional(),
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
