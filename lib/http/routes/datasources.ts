import { REFUSED } from '../compat/refusals.ts';
import { referenceDatasource, referenceUrls } from '../compat.ts';
import { route } from '../route.ts';
import { Paging } from '../schemas/common.ts';
import {
  CsvRows,
  DatasourceCreate,
  DatasourceParams,
  DatasourcePublic,
  DatasourcesPublic,
  DatasourceUpdate,
  RecordAppend,
  RecordAppendPending,
  RecordPublic,
  RowsQuery,
} from '../schemas/datasources.ts';
import { WorkspaceIdParam } from '../schemas/workspaces.ts';
import { WS } from './paths.ts';

/** Datasources of a workspace: created from text, URLs or uploaded files, ingested by a worker. */
export const datasources = {
  create: route({
    handler: 'datasources.create',
    method: 'POST',
    path: `${WS}/datasources`,
    auth: 'user',
    summary:
      'Create datasources: text and URL sources are queued at once; file sources answer with a presigned upload (or take the files as multipart/form-data)',
    tags: ['datasources'],
    params: WorkspaceIdParam,
    body: DatasourceCreate,
    bodyTypes: ['json', 'multipart'],
    response: { status: 201, schema: DatasourcesPublic },
    errors: [404, 413],
    compat: { output: referenceDatasource },
  }),
  list: route({
    handler: 'datasources.list',
    method: 'GET',
    path: `${WS}/datasources`,
    auth: 'user',
    summary: 'List the workspace’s datasources',
    tags: ['datasources'],
    params: WorkspaceIdParam,
    query: Paging,
    response: { status: 200, schema: DatasourcesPublic },
    errors: [404],
    compat: { output: referenceDatasource },
  }),
  read: route({
    handler: 'datasources.read',
    method: 'GET',
    path: `${WS}/datasources/{datasource_id}`,
    auth: 'user',
    summary: 'Read a datasource: status, progress and results in metadata',
    tags: ['datasources'],
    params: DatasourceParams,
    response: { status: 200, schema: DatasourcePublic },
    errors: [404],
    compat: {
      output: referenceDatasource,
      aliases: [{ path: `${WS}/datasources/{datasource_id}/urls`, output: referenceUrls }],
    },
  }),
  update: route({
    handler: 'datasources.update',
    method: 'PATCH',
    path: `${WS}/datasources/{datasource_id}`,
    auth: 'user',
    summary:
      'Rename a datasource or set its description (the fields ingestion owns may come along unchanged; a change is a 409)',
    tags: ['datasources'],
    params: DatasourceParams,
    body: DatasourceUpdate,
    response: { status: 200, schema: DatasourcePublic },
    errors: [404, 409],
    compat: {
      output: referenceDatasource,
      aliases: [
        { method: 'PUT', path: `${WS}/datasources/{datasource_id}` },
        { method: 'PUT', path: `${WS}/datasources/{datasource_id}/urls`, refuse: REFUSED.urlsUpdate },
      ],
    },
  }),
  delete: route({
    handler: 'datasources.delete',
    method: 'DELETE',
    path: `${WS}/datasources/{datasource_id}`,
    auth: 'user',
    summary:
      'Delete a datasource with its records and stored files: a small one at once (204); a large one, or one being processed, in the background (202 with the datasource, `status: deleting`, its records disappearing as the delete goes; 404 once it is gone)',
    tags: ['datasources'],
    params: DatasourceParams,
    response: {
      status: 204,
      alternatives: [
        {
          status: 202,
          description: 'Being deleted in the background: the datasource to poll, `status: deleting`',
          schema: DatasourcePublic,
          location: true,
        },
      ],
    },
    errors: [404],
    compat: {},
  }),
  reprocess: route({
    handler: 'datasources.reprocess',
    method: 'POST',
    path: `${WS}/datasources/{datasource_id}/reprocess`,
    auth: 'user',
    summary:
      'Run the datasource again with its current options, updating its records in place (ids and classification results stay; appended records are kept)',
    tags: ['datasources'],
    params: DatasourceParams,
    response: { status: 202, schema: DatasourcePublic },
    errors: [404, 409],
    compat: {
      own: false,
      output: referenceDatasource,
      aliases: [{ path: `${WS}/datasources/{datasource_id}/refetch` }],
    },
  }),
  rows: route({
    handler: 'datasources.rows',
    method: 'GET',
    path: `${WS}/datasources/{datasource_id}/rows`,
    auth: 'user',
    summary: 'Preview the rows of a CSV datasource',
    tags: ['datasources'],
    params: DatasourceParams,
    query: RowsQuery,
    response: { status: 200, schema: CsvRows },
    errors: [404],
    compat: {},
  }),
  content: route({
    handler: 'datasources.content',
    method: 'GET',
    path: `${WS}/datasources/{datasource_id}/content`,
    auth: 'user',
    summary: 'The stored file: a redirect to a short-lived download URL, or the bytes',
    tags: ['datasources'],
    params: DatasourceParams,
    response: {
      status: 200,
      description: 'The file’s bytes (where the store signs no download URL: the local runtime)',
      contentType: ['application/pdf', 'text/csv', 'application/octet-stream'],
      alternatives: [{ status: 302, description: 'A short-lived download URL (S3)', redirect: true }],
    },
    errors: [404],
    compat: { aliases: [{ path: `${WS}/datasources/{datasource_id}/pdf_download` }] },
  }),
  appendRecord: route({
    handler: 'datasources.appendRecord',
    method: 'POST',
    path: `${WS}/datasources/{datasource_id}/records`,
    auth: 'user',
    summary:
      'Append a record to a text_block (text: 201 with the record) or url_list source (url: 202, scraped in the background; the answer is a RecordAppendPending and `location` names the datasource to poll)',
    tags: ['datasources'],
    params: DatasourceParams,
    body: RecordAppend,
    response: {
      status: 201,
      schema: RecordPublic,
      alternatives: [
        {
          status: 202,
          description: 'A URL, queued to be scraped',
          schema: RecordAppendPending,
          redirect: true,
        },
      ],
    },
    errors: [404, 409],
    compat: { own: false, aliases: [{ path: `${WS}/datarecords/by_datasource/{datasource_id}/records` }] },
  }),
};
