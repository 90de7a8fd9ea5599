import { config } from '#lib/config.ts';
import { NotFoundError, ValidationError } from '#lib/http/errors.ts';
import { httpHandler } from '#lib/http/handler.ts';
import { RawResponse } from '#lib/http/response.ts';
import { datasources } from '#lib/http/routes.ts';
import { newId } from '#lib/ids.ts';
import { openCsv } from '#lib/ingest/csv.ts';
import { IngestError } from '#lib/ingest/errors.ts';
import { scrapeUrl } from '#lib/ingest/scrape.ts';
import { platform } from '#lib/platform.ts';
import {
  createDatasources,
  deleteDatasource,
  type IngestSettings,
  listDatasources,
  renameDatasource,
  reprocessDatasource,
  requireDatasource,
  toDatasourceOut,
} from '#lib/services/datasources.ts';
import {
  type AppendInput,
  appendRecord as appendToDatasource,
  type RecordContent,
  toRecordOut,
} from '#lib/services/records.ts';

function settings(): IngestSettings {
  const c = config();
  return {
    ingestQueue: c.ingestQueue,
    maxUploadBytes: c.maxUploadBytes,
    uploadUrlExpireSeconds: c.uploadUrlExpireSeconds,
  };
}

export const create = httpHandler(datasources.create, async ({ db, user, params, body, files }) => {
  const sent = files.map((f) => ({ filename: f.filename, contentType: f.contentType, bytes: f.bytes }));
  const data = await createDatasources(db, platform(), user, params.workspace_id, body, sent, settings());
  return { data, count: data.length, next_cursor: null };
});

export const list = httpHandler(datasources.list, async ({ db, user, params, query }) =>
  listDatasources(db, user, params.workspace_id, query),
);

export const read = httpHandler(datasources.read, async ({ db, user, params }) =>
  toDatasourceOut(await requireDatasource(db, user, params.workspace_id, params.datasource_id)),
);

export const update = httpHandler(datasources.update, async ({ db, user, params, body }) =>
  toDatasourceOut(await renameDatasource(db, user, params.workspace_id, params.datasource_id, body.name)),
);

const deleteHandler = httpHandler(datasources.delete, async ({ db, user, params }) => {
  await deleteDatasource(db, platform(), user, params.workspace_id, params.datasource_id);
  return undefined;
});

export { deleteHandler as delete };

export const reprocess = httpHandler(datasources.reprocess, async ({ db, user, params }) =>
  toDatasourceOut(
    await reprocessDatasource(db, platform(), user, params.workspace_id, params.datasource_id, settings()),
  ),
);

export const rows = httpHandler(datasources.rows, async ({ db, user, params, query }) => {
  const source = await requireDatasource(db, user, params.workspace_id, params.datasource_id);
  if (source.type !== 'csv') {
    throw new ValidationError([{ location: 'path', path: 'datasource_id', message: 'Not a CSV datasource' }]);
  }
  if (!source.object_key || !(await platform().objects.head(source.object_key))) {
    throw new NotFoundError('The file has not been uploaded yet');
  }
  const options = source.options as { delimiter?: string; encoding?: string; skip_rows?: number };
  let csv: Awaited<ReturnType<typeof openCsv>>;
  try {
    csv = await openCsv(await platform().objects.read(source.object_key), {
      ...(options.delimiter && { delimiter: options.delimiter }),
      ...(options.encoding && { encoding: options.encoding }),
      ...(options.skip_rows !== undefined && { skipRows: options.skip_rows }),
    });
  } catch (error) {
    if (error instanceof IngestError)
      throw new ValidationError([{ location: 'path', path: 'datasource_id', message: error.reason }]);
    throw error;
  }
  const data: { row_number: number; row_data: Record<string, string> }[] = [];
  const knownTotal = typeof source.metadata.row_count === 'number' ? source.metadata.row_count : undefined;
  let seen = 0;
  try {
    for await (const row of csv.rows) {
      seen++;
      if (seen > query.offset && data.length < query.limit)
        data.push({ row_number: row.rowNumber, row_data: row.values });
      // Once processed, the total is known: stop reading at the end of the page.
      if (knownTotal !== undefined && data.length >= query.limit) break;
    }
  } finally {
    csv.close();
  }
  return { data, total_rows: knownTotal ?? seen, columns: csv.columns };
});

export const content = httpHandler(datasources.content, async ({ db, user, params }) => {
  const source = await requireDatasource(db, user, params.workspace_id, params.datasource_id);
  const key = source.object_key;
  if (!key || !(await platform().objects.head(key)))
    throw new NotFoundError('This datasource has no stored file');
  const filename = key.split('/').at(-1)!;
  const url = await platform().objects.presignDownload(key, filename);
  if (url) return new RawResponse(302, '', { location: url });
  const chunks: Buffer[] = [];
  for await (const chunk of await platform().objects.read(key)) chunks.push(chunk as Buffer);
  const type =
    source.type === 'pdf'
      ? 'application/pdf'
      : source.type === 'csv'
        ? 'text/csv'
        : 'application/octet-stream';
  return new RawResponse(
    200,
    Buffer.concat(chunks).toString('base64'),
    { 'content-type': type, 'content-disposition': `attachment; filename="${filename}"` },
    true,
  );
});

/** Turns appended content into a record: text as is, a URL scraped now. */
async function resolveContent(input: AppendInput): Promise<RecordContent> {
  if (input.content_type === 'text') {
    // Texts may repeat: each appended text is a record of its own.
    return {
      sourceKey: `text:${newId()}`,
      title: null,
      text: input.content,
      metadata: {},
      eventTimestamp: null,
    };
  }
  try {
    const page = await scrapeUrl(input.content, { allowPrivateHosts: config().scraperAllowPrivateHosts });
    return {
      sourceKey: page.url,
      title: page.title,
      text: page.text,
      metadata: { url: page.url, final_url: page.finalUrl, content_type: page.contentType },
      eventTimestamp: page.publishedAt,
    };
  } catch (error) {
    if (error instanceof IngestError)
      throw new ValidationError([{ location: 'body', path: 'content', message: error.reason }]);
    throw error;
  }
}

export const appendRecord = httpHandler(datasources.appendRecord, async ({ db, user, params, body }) =>
  toRecordOut(
    await appendToDatasource(db, user, params.workspace_id, params.datasource_id, body, resolveContent),
  ),
);
