import { referenceFileImport, referenceImport, referenceTokenImport } from '../compat/imports.ts';
import { REFUSED } from '../compat/refusals.ts';
import { REFERENCE_SHAREABLES } from '../compat/sharing.ts';
import { route } from '../route.ts';
import {
  ExportCreate,
  ExportParams,
  ExportPublic,
  ImportCreate,
  ImportParams,
  ImportPublic,
} from '../schemas/bundles.ts';
import { WorkspaceIdParam } from '../schemas/workspaces.ts';

const WS = '/api/v1/workspaces/{workspace_id}';
const tags = ['bundles'];

/** Bundles: exports of a resource or workspace, imports of bundles and reference exports. */
export const bundles = {
  createExport: route({
    handler: 'bundles.createExport',
    method: 'POST',
    path: `${WS}/exports`,
    auth: 'user',
    summary:
      'Export a datasource, scheme, job or the whole workspace as a bundle (written in the background)',
    tags,
    params: WorkspaceIdParam,
    body: ExportCreate,
    response: { status: 202, schema: ExportPublic },
    errors: [404, 503],
    compat: {
      own: false,
      aliases: [
        { path: `${REFERENCE_SHAREABLES}/export`, refuse: REFUSED.exportFile },
        { path: `${REFERENCE_SHAREABLES}/export-batch`, refuse: REFUSED.exportBatch },
      ],
    },
  }),
  readExport: route({
    handler: 'bundles.readExport',
    method: 'GET',
    path: `${WS}/exports/{export_id}`,
    auth: 'user',
    summary: 'An export’s status, and a download link once complete',
    tags,
    params: ExportParams,
    response: { status: 200, schema: ExportPublic },
    errors: [404],
  }),
  createImport: route({
    handler: 'bundles.createImport',
    method: 'POST',
    path: `${WS}/imports`,
    auth: 'user',
    summary:
      'Import a bundle or a reference export into the workspace (a presigned upload, or a small bundle with the request), or a share link’s resource',
    tags,
    params: WorkspaceIdParam,
    body: ImportCreate,
    bodyTypes: ['json', 'multipart'],
    response: { status: 201, schema: ImportPublic },
    errors: [401, 403, 404, 410, 413, 503],
    compat: {
      own: false,
      output: referenceImport,
      aliases: [
        { path: `${REFERENCE_SHAREABLES}/import/{workspace_id}`, input: referenceFileImport },
        { path: `${WS}/datasets/import`, input: referenceFileImport },
        { path: `${WS}/datasets/import_from_token`, input: referenceTokenImport },
        { path: '/api/v1/workspaces/import_from_token', refuse: REFUSED.workspaceFromToken },
        { path: '/api/v1/workspaces/transfer/datasources', refuse: REFUSED.transfer },
      ],
    },
  }),
  readImport: route({
    handler: 'bundles.readImport',
    method: 'GET',
    path: `${WS}/imports/{import_id}`,
    auth: 'user',
    summary: 'An import’s status, with counts when complete and the reason when failed',
    tags,
    params: ImportParams,
    response: { status: 200, schema: ImportPublic },
    errors: [404],
  }),
};
