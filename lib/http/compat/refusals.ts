import type { CompatRefusal } from '../route.ts';

/**
 * The reference client's operations that docsift does not serve, each answered with a problem
 * that says what to do instead (lib/http/compat.ts; the README lists them as deliberate
 * differences). Each sits as an alias on the route closest to what the reference meant.
 */
export const REFUSED = {
  /** POST /shareables/shareables/export: one resource as the reference's JSON export file. */
  exportFile: {
    status: 406,
    detail:
      'docsift does not write the reference system’s export files: export the resource as a docsift bundle (POST /api/v1/workspaces/{workspace_id}/exports, then GET …/exports/{export_id} for its download link)',
  },
  /** POST /shareables/shareables/export-batch: several resources as a ZIP of reference exports. */
  exportBatch: {
    status: 406,
    detail:
      'docsift does not write ZIP archives of the reference system’s exports: export each resource, or the whole workspace, as a docsift bundle (POST /api/v1/workspaces/{workspace_id}/exports)',
  },
  /** POST W/datasets/{id}/export: the reference's dataset package (ZIP). */
  datasetPackage: {
    status: 406,
    detail:
      'docsift does not write the reference system’s dataset packages (ZIP): a dataset’s members and results come as CSV, JSONL or JSON from GET /api/v1/workspaces/{workspace_id}/datasets/{dataset_id}/export, or whole as a bundle (POST …/exports with type dataset)',
  },
  /** PATCH W/datarecords/{id}: a record's title or event time. */
  recordUpdate: {
    status: 405,
    allow: ['GET'],
    detail:
      'docsift does not edit records: a record is what its source gave, title and event time included (POST /api/v1/workspaces/{workspace_id}/datasources/{datasource_id}/reprocess reads the source again)',
  },
  /** GET W/datarecords/{id}/content: the file behind a record. */
  recordContent: {
    status: 404,
    detail:
      'docsift keeps files per datasource, not per record: GET /api/v1/workspaces/{workspace_id}/datasources/{datasource_id}/content with the record’s datasource_id',
  },
  /** PUT W/datasources/{id}/urls: replace a URL list. */
  urlsUpdate: {
    status: 405,
    allow: ['GET'],
    detail:
      'docsift does not change a URL list’s URLs: append a URL (POST /api/v1/workspaces/{workspace_id}/datasources/{datasource_id}/records with url) or create a new url_list datasource',
  },
  /** POST W/classification_results/{id}/retry: run one failed result again. */
  resultRetry: {
    status: 409,
    detail:
      'A docsift result is never a failed one (a failed item leaves no result): failed items are run again per job, POST /api/v1/workspaces/{workspace_id}/classification_jobs/{job_id}/retry_failures',
  },
  /** POST /workspaces/transfer/datasources: copy or move datasources to another workspace. */
  transfer: {
    status: 404,
    detail:
      'docsift does not copy or move datasources between workspaces in one call: export the datasource as a bundle (POST /api/v1/workspaces/{workspace_id}/exports) and import it into the other workspace (POST …/imports)',
  },
  /** POST /workspaces/import_from_token: a new workspace from a shared one. */
  workspaceFromToken: {
    status: 404,
    detail:
      'docsift imports a share link into a workspace that exists: create one (POST /api/v1/workspaces), then POST /api/v1/workspaces/{workspace_id}/imports with share_token (the link needs full_access)',
  },
} satisfies Record<string, CompatRefusal>;
