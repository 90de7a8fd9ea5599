import { config } from '#lib/config.ts';
import { httpHandler } from '#lib/http/handler.ts';
import { RawResponse } from '#lib/http/response.ts';
import { datasources } from '#lib/http/routes/datasources.ts';
import { DatasourcePublic, RecordAppendPending } from '#lib/http/schemas/datasources.ts';
import { platform } from '#lib/platform.ts';
import { requireDatasource } from '#lib/services/access.ts';
import {
  createDatasources,
  datasourceContent,
  deleteDatasource,
  type IngestSettings,
  listDatasources,
  previewCsvRows,
  reprocessDatasource,
  toDatasourceOut,
  updateDatasource,
} from '#lib/services/datasources.ts';
import { defaultDeleteDeps } from '#lib/services/deletes.ts';
import { appendRecord as appendToDatasource, queueUrlAppend, toRecordOut } from '#lib/services/records.ts';

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
  toDatasourceOut(await updateDatasource(db, user, params.workspace_id, params.datasource_id, body)),
);

const deleteHandler = httpHandler(datasources.delete, async ({ db, user, params }) => {
  const outcome = await deleteDatasource(
    db,
    user,
    params.workspace_id,
    params.datasource_id,
    defaultDeleteDeps(),
  );
  if ('deleted' in outcome) return undefined;
  // Deleted in the background: the datasource to poll (404 once it is gone).
  return new RawResponse(202, JSON.stringify(DatasourcePublic.parse(toDatasourceOut(outcome.deleting))), {
    'content-type': 'application/json',
    location: `/api/v1/workspaces/${params.workspace_id}/datasources/${params.datasource_id}`,
  });
});

export { deleteHandler as delete };

export const reprocess = httpHandler(datasources.reprocess, async ({ db, user, params }) =>
  toDatasourceOut(
    await reprocessDatasource(db, platform(), user, params.workspace_id, params.datasource_id, settings()),
  ),
);

export const rows = httpHandler(datasources.rows, async ({ db, user, params, query }) =>
  previewCsvRows(db, platform(), user, params.workspace_id, params.datasource_id, {
    limit: query.limit,
    offset: query.skip ?? query.offset,
  }),
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

export const appendRecord = httpHandler(datasources.appendRecord, async ({ db, user, params, body }) => {
  if (body.content_type === 'text')
    return toRecordOut(await appendToDatasource(db, user, params.workspace_id, params.datasource_id, body));
  // A page can take the function's whole timeout to fetch: it is scraped by the ingest worker.
  const pending = await queueUrlAppend(
    db,
    platform(),
    config().ingestQueue,
    user,
    params.workspace_id,
    params.datasource_id,
    body,
  );
  return new RawResponse(202, JSON.stringify(RecordAppendPending.parse(pending)), {
    'content-type': 'application/json',
    location: `/api/v1/workspaces/${params.workspace_id}/datasources/${params.datasource_id}`,
  });
});
