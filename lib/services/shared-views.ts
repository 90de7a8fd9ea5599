import type { Db } from '#lib/db/database.ts';
import type { ClassificationJob } from '#lib/db/schema.ts';
import { NotFoundError } from '#lib/errors.ts';
import type { Paging } from '#lib/http/schemas/common.ts';
import { requireDatasource } from './access.ts';
import { listMembers } from './dataset-members.ts';
import { readDataset } from './datasets.ts';
import { listDatasources, toDatasourceOut } from './datasources.ts';
import { datasetFile, type ExportFormat } from './file-exports.ts';
import { jobOut, listJobs, requireJob } from './jobs.ts';
import { getRecord, listRecords, type RecordFilters, toRecordOut } from './records.ts';
import { getResult, listResults, type ResultFilters } from './results.ts';
import { listSchemes, requireScheme, schemeOut } from './schemes.ts';
import type { OpenedShare } from './share-access.ts';
import { SHAREABLE_RESOLVERS } from './share-resources.ts';

/*
 * The read-only views under a share link. Each reads the link's workspace as its owner, through
 * the same services the owner's routes use, and first narrows to what the link covers: its
 * resource, and for a workspace link everything in the workspace. Anything else is a 404, never
 * a 403, so a token tells nothing about what lies outside it.
 */

function outside(what: string): NotFoundError {
  return new NotFoundError(`${what} not found under this link`);
}

const isWorkspace = (s: OpenedShare) => s.link.resource_type === 'workspace';
const covers = (s: OpenedShare, type: OpenedShare['link']['resource_type'], id: string) =>
  isWorkspace(s) || (s.link.resource_type === type && s.link.resource_id === id);

/** What `GET /shared/{token}` answers: the link's terms and a summary of its resource. */
export async function describeShare(db: Db, share: OpenedShare) {
  const { link } = share;
  const resource = await SHAREABLE_RESOLVERS[link.resource_type].summarize(db, link.resource_id);
  if (!resource) throw new NotFoundError('Share link not found');
  return {
    resource_type: link.resource_type,
    resource_id: link.resource_id,
    name: link.name ?? (typeof resource.name === 'string' ? resource.name : null),
    description: link.description,
    permission_level: link.permission_level,
    expires_at: link.expires_at?.toISOString() ?? null,
    resource,
  };
}

/** A workspace link's datasources. */
export async function sharedDatasources(db: Db, share: OpenedShare, paging: Paging) {
  if (!isWorkspace(share)) throw outside('Datasources');
  return listDatasources(db, share.reader, share.link.workspace_id, paging);
}

export async function sharedDatasource(db: Db, share: OpenedShare, id: string) {
  if (!covers(share, 'datasource', id)) throw outside('Datasource');
  return toDatasourceOut(await requireDatasource(db, share.reader, share.link.workspace_id, id));
}

/** Records of a datasource link's datasource, or of a workspace link's workspace. */
export async function sharedRecords(db: Db, share: OpenedShare, filters: RecordFilters) {
  const { link } = share;
  if (link.resource_type === 'datasource') {
    if (filters.datasource_id !== undefined && filters.datasource_id !== link.resource_id)
      throw outside('Datasource');
    return listRecords(db, share.reader, link.workspace_id, { ...filters, datasource_id: link.resource_id });
  }
  if (!isWorkspace(share)) throw outside('Records');
  return listRecords(db, share.reader, link.workspace_id, filters);
}

export async function sharedRecord(db: Db, share: OpenedShare, id: string) {
  const { link } = share;
  if (link.resource_type !== 'datasource' && !isWorkspace(share)) throw outside('Record');
  const record = await getRecord(db, share.reader, link.workspace_id, id).catch((error: unknown) => {
    throw error instanceof NotFoundError ? outside('Record') : error;
  });
  if (!covers(share, 'datasource', record.datasource_id)) throw outside('Record');
  return toRecordOut(record);
}

/** A workspace link's schemes. */
export async function sharedSchemes(db: Db, share: OpenedShare, paging: Paging) {
  if (!isWorkspace(share)) throw outside('Classification schemes');
  return listSchemes(db, share.reader, share.link.workspace_id, paging);
}

/** A scheme: the one shared, one of a shared job's (to read its results by), or a workspace's. */
export async function sharedScheme(db: Db, share: OpenedShare, id: string) {
  const { link } = share;
  let allowed = covers(share, 'scheme', id);
  if (!allowed && link.resource_type === 'classification_job') {
    const job = await requireJob(db, share.reader, link.workspace_id, link.resource_id);
    allowed = job.scheme_ids.includes(id);
  }
  if (!allowed) throw outside('Classification scheme');
  return schemeOut(db, await requireScheme(db, share.reader, link.workspace_id, id));
}

/** A workspace link's jobs. */
export async function sharedJobs(db: Db, share: OpenedShare, paging: Paging) {
  if (!isWorkspace(share)) throw outside('Classification jobs');
  return listJobs(db, share.reader, share.link.workspace_id, paging);
}

/** A job the link covers (a job link's own, or any of a workspace link's), as a row. */
export async function sharedJobRow(db: Db, share: OpenedShare, id: string): Promise<ClassificationJob> {
  if (!covers(share, 'classification_job', id)) throw outside('Classification job');
  return requireJob(db, share.reader, share.link.workspace_id, id);
}

export async function sharedJob(db: Db, share: OpenedShare, id: string) {
  const job = await sharedJobRow(db, share, id);
  return jobOut(db, job);
}

/** Results of a job link's job (filters as the results route), or of a workspace link's workspace. */
export async function sharedResults(db: Db, share: OpenedShare, filters: ResultFilters) {
  const { link } = share;
  if (link.resource_type === 'classification_job') {
    if (filters.job_id !== undefined && filters.job_id !== link.resource_id)
      throw outside('Classification job');
    return listResults(db, share.reader, link.workspace_id, { ...filters, job_id: link.resource_id });
  }
  if (!isWorkspace(share)) throw outside('Classification results');
  return listResults(db, share.reader, link.workspace_id, filters);
}

export async function sharedResult(db: Db, share: OpenedShare, id: string) {
  const { link } = share;
  if (link.resource_type !== 'classification_job' && !isWorkspace(share))
    throw outside('Classification result');
  const result = await getResult(db, share.reader, link.workspace_id, id).catch((error: unknown) => {
    throw error instanceof NotFoundError ? outside('Classification result') : error;
  });
  if (!covers(share, 'classification_job', result.job_id)) throw outside('Classification result');
  return result;
}

/** A dataset link's dataset, or a dataset of a workspace link's workspace. */
export async function sharedDataset(db: Db, share: OpenedShare, id: string) {
  if (!covers(share, 'dataset', id)) throw outside('Dataset');
  return readDataset(db, share.reader, share.link.workspace_id, id);
}

/** A shared dataset's members, with their results for the schemes asked for. */
export async function sharedDatasetMembers(
  db: Db,
  share: OpenedShare,
  id: string,
  query: Parameters<typeof listMembers>[4],
) {
  if (!covers(share, 'dataset', id)) throw outside('Dataset');
  return listMembers(db, share.reader, share.link.workspace_id, id, query);
}

/** A shared dataset's export (the chunks and the file's name; the caller stores or inlines it). */
export async function sharedDatasetExport(
  db: Db,
  share: OpenedShare,
  id: string,
  format: ExportFormat,
  includeText: boolean,
) {
  if (!covers(share, 'dataset', id)) throw outside('Dataset');
  return datasetFile(db, share.reader, share.link.workspace_id, id, { format, includeText });
}
