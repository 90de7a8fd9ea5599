import { config } from '#lib/config.ts';
import { ValidationError } from '#lib/http/errors.ts';
import { httpHandler } from '#lib/http/handler.ts';
import { RawResponse } from '#lib/http/response.ts';
import { datasources } from '#lib/http/routes.ts';
import { newId } from '#lib/ids.ts';
import { IngestError } from '#lib/ingest/errors.ts';
import { scrapeUrl } from '#lib/ingest/scrape.ts';
import { platform } from '#lib/platform.ts';
import {
  createDatasources,
  datasourceContent,
  deleteDatasource,
  type IngestSettings,
  listDatasources,
  previewCsvRows,
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
  await deleteDatasource(db, platform(), user, params.workspace_id, params.datasource_id, settings());
  return undefined;
});

export { deleteHandler as delete };

export const reprocess = httpHandler(datasources.reprocess, async ({ db, user, params }) =>
  toDatasourceOut(
    await reprocessDatasource(db, platform(), user, params.workspace_id, params.datasource_id, settings()),
  ),
);

export const rows = httpHandler(datasources.rows, async ({ db, user, params, query }) =>
  previewCsvRows(db, platform(), user, params.workspace_id, params.datasource_id, query),
);

export const content = httpHandler(datasources.content, async ({ db, user, params }) => {
  const file = await datasourceContent(db, platform(), user, params.workspace_id, params.datasource_id);
  if ('redirect' in file) return new RawResponse(302, '', { location: file.redirect });
  return new RawResponse(
    200,
    file.bytes.toString('base64'),
    { 'content-type': file.contentType, 'content-disposition': `attachment; filename="${file.filename}"` },
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
