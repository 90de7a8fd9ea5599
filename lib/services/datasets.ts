import { sql } from 'kysely';
import type { Db } from '#lib/db/database.ts';
import { toPage } from '#lib/db/paging.ts';
import type { Dataset, User } from '#lib/db/schema.ts';
import { ConflictError, type FieldError, NotFoundError, ValidationError } from '#lib/errors.ts';
import type { Paging } from '#lib/http/schemas/common.ts';
import type { DatasetCreate, DatasetUpdate } from '#lib/http/schemas/datasets.ts';
import { newId } from '#lib/ids.ts';
import { requireWorkspace } from './access.ts';

export type DatasetOut = {
  id: string;
  workspace_id: string;
  name: string;
  description: string | null;
  custom_metadata: Record<string, unknown>;
  scheme_ids: string[];
  job_ids: string[];
  member_count: number;
  created_at: string;
  updated_at: string;
};

type DatasetRow = Dataset & { scheme_ids: string[]; job_ids: string[]; member_count: number };

function toDatasetOut(d: DatasetRow): DatasetOut {
  return {
    id: d.id,
    workspace_id: d.workspace_id,
    name: d.name,
    description: d.description,
    custom_metadata: d.custom_metadata,
    scheme_ids: d.scheme_ids,
    job_ids: d.job_ids,
    member_count: d.member_count,
    created_at: d.created_at.toISOString(),
    updated_at: d.updated_at.toISOString(),
  };
}

/** Datasets with their schemes, jobs and member count (index-only counts on the members' key). */
function withSources(db: Db) {
  return db
    .selectFrom('datasets as d')
    .selectAll('d')
    .select([
      sql<
        string[]
      >`array(SELECT scheme_id FROM dataset_schemes WHERE dataset_id = d.id ORDER BY scheme_id)`.as(
        'scheme_ids',
      ),
      sql<string[]>`array(SELECT job_id FROM dataset_jobs WHERE dataset_id = d.id ORDER BY job_id)`.as(
        'job_ids',
      ),
      sql<number>`(SELECT count(*)::int FROM dataset_records WHERE dataset_id = d.id)`.as('member_count'),
    ]);
}

/** The tables whose ids a dataset refers to, by the kind of id. */
const OWNED_TABLES = {
  record: 'records',
  scheme: 'classification_schemes',
  job: 'classification_jobs',
  datasource: 'datasources',
} as const;

/**
 * Field errors for each id that is not one of the workspace's `kind`s, naming its path
 * (`record_ids.3`, `results_filter.job_id`): another workspace's ids are refused like unknown
 * ones, so they reveal nothing.
 *
 * @example await foreignIds(db, ws, 'scheme', body.scheme_ids, 'scheme_ids')
 */
export async function foreignIds(
  db: Db,
  workspaceId: string,
  kind: keyof typeof OWNED_TABLES,
  ids: string[] | string | undefined,
  path: string,
): Promise<FieldError[]> {
  if (ids === undefined || ids.length === 0) return [];
  const list = typeof ids === 'string' ? [ids] : ids;
  const found = await db
    .selectFrom(OWNED_TABLES[kind])
    .select('id')
    .where('workspace_id', '=', workspaceId)
    .where('id', '=', sql<string>`ANY(${list}::uuid[])`)
    .execute();
  const known = new Set(found.map((r) => r.id));
  return list
    .map((id, i) => ({ id, i }))
    .filter(({ id }) => !known.has(id))
    .slice(0, 20)
    .map(({ i }) => ({
      location: 'body' as const,
      path: typeof ids === 'string' ? path : `${path}.${i}`,
      message: `Not a ${kind} of this workspace`,
    }));
}

/**
 * Runs a write that refers to records, schemes or jobs checked just before; one deleted in
 * between fails its foreign key (23503): the write rolled back, the answer is a 409.
 */
export async function whileReferencesExist<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if ((error as { code?: string }).code === '23503')
      throw new ConflictError('Something this request refers to was deleted meanwhile; nothing changed');
    throw error;
  }
}

/** Throws one 422 naming every field error, or returns. */
export function refuse(errors: FieldError[]): void {
  if (errors.length > 0) throw new ValidationError(errors);
}

/** A dataset of the caller's workspace, or 404 (also for other workspaces' datasets). */
export async function requireDataset(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasetId: string,
): Promise<Dataset> {
  await requireWorkspace(db, user, workspaceId);
  const dataset = await db
    .selectFrom('datasets')
    .selectAll()
    .where('id', '=', datasetId)
    .where('workspace_id', '=', workspaceId)
    .executeTakeFirst();
  if (!dataset) throw new NotFoundError('Dataset not found');
  return dataset;
}

/** A dataset as the API shows it, with its sources and member count. */
export async function readDataset(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasetId: string,
): Promise<DatasetOut> {
  const dataset = await requireDataset(db, user, workspaceId, datasetId);
  const row = await withSources(db).where('d.id', '=', dataset.id).executeTakeFirstOrThrow();
  return toDatasetOut(row as DatasetRow);
}

/** A page of the workspace's datasets, oldest first, each with its member count. */
export async function listDatasets(db: Db, user: Pick<User, 'id'>, workspaceId: string, paging: Paging) {
  await requireWorkspace(db, user, workspaceId);
  const [rows, total] = await Promise.all([
    withSources(db)
      .where('d.workspace_id', '=', workspaceId)
      .$if(paging.cursor !== undefined, (q) => q.where('d.id', '>', paging.cursor!))
      .orderBy('d.id')
      .limit(paging.limit + 1)
      .execute(),
    db
      .selectFrom('datasets')
      .select(sql<number>`count(*)::int`.as('count'))
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirstOrThrow(),
  ]);
  const page = toPage(rows as DatasetRow[], paging.limit);
  return { ...page, data: page.data.map(toDatasetOut), count: total.count };
}

/** 422 for any scheme or job id outside the workspace. */
async function checkSources(
  db: Db,
  workspaceId: string,
  body: { scheme_ids?: string[] | undefined; job_ids?: string[] | undefined },
): Promise<FieldError[]> {
  return [
    ...(await foreignIds(db, workspaceId, 'scheme', body.scheme_ids, 'scheme_ids')),
    ...(await foreignIds(db, workspaceId, 'job', body.job_ids, 'job_ids')),
  ];
}

/**
 * Records that the dataset carries these schemes' and jobs' results (already known ones stay).
 * The ids must be the workspace's: callers check first.
 */
export async function addSources(
  db: Db,
  datasetId: string,
  sources: { scheme_ids?: string[] | undefined; job_ids?: string[] | undefined },
): Promise<void> {
  const schemes = [...new Set(sources.scheme_ids ?? [])];
  const jobs = [...new Set(sources.job_ids ?? [])];
  if (schemes.length > 0)
    await db
      .insertInto('dataset_schemes')
      .values(schemes.map((scheme_id) => ({ dataset_id: datasetId, scheme_id })))
      .onConflict((c) => c.doNothing())
      .execute();
  if (jobs.length > 0)
    await db
      .insertInto('dataset_jobs')
      .values(jobs.map((job_id) => ({ dataset_id: datasetId, job_id })))
      .onConflict((c) => c.doNothing())
      .execute();
}

/**
 * Creates a dataset, with its initial members and sources, in one transaction. Every id must
 * be the workspace's (422 naming each that is not). Members by a results filter:
 * `createDatasetWithMembers` (dataset-members.ts).
 */
export async function createDataset(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  body: Omit<DatasetCreate, 'results_filter'>,
): Promise<DatasetOut> {
  await requireWorkspace(db, user, workspaceId);
  refuse([
    ...(await foreignIds(db, workspaceId, 'record', body.record_ids, 'record_ids')),
    ...(await checkSources(db, workspaceId, body)),
  ]);
  const id = newId();
  await whileReferencesExist(() =>
    db.transaction().execute(async (trx) => {
      await trx
        .insertInto('datasets')
        .values({
          id,
          workspace_id: workspaceId,
          name: body.name,
          description: body.description ?? null,
          custom_metadata: JSON.stringify(body.custom_metadata),
        })
        .execute();
      await addSources(trx, id, body);
      if (body.record_ids)
        await sql`INSERT INTO dataset_records (dataset_id, record_id)
        SELECT ${id}, r.id FROM records r
        WHERE r.workspace_id = ${workspaceId} AND r.id = ANY(${body.record_ids}::uuid[])
        ON CONFLICT DO NOTHING`.execute(trx);
    }),
  );
  return readDataset(db, user, workspaceId, id);
}

/** Changes name, description, custom_metadata; `scheme_ids`/`job_ids` replace the sources. */
export async function updateDataset(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasetId: string,
  body: DatasetUpdate,
): Promise<DatasetOut> {
  const dataset = await requireDataset(db, user, workspaceId, datasetId);
  refuse(await checkSources(db, workspaceId, body));
  await whileReferencesExist(() =>
    db.transaction().execute(async (trx) => {
      const fields = {
        ...(body.name !== undefined && { name: body.name }),
        ...(body.description !== undefined && { description: body.description }),
        ...(body.custom_metadata !== undefined && { custom_metadata: JSON.stringify(body.custom_metadata) }),
      };
      if (Object.keys(fields).length > 0)
        await trx.updateTable('datasets').set(fields).where('id', '=', dataset.id).execute();
      if (body.scheme_ids !== undefined)
        await trx.deleteFrom('dataset_schemes').where('dataset_id', '=', dataset.id).execute();
      if (body.job_ids !== undefined)
        await trx.deleteFrom('dataset_jobs').where('dataset_id', '=', dataset.id).execute();
      await addSources(trx, dataset.id, body);
    }),
  );
  return readDataset(db, user, workspaceId, datasetId);
}

/** Deletes a dataset and its memberships; the records, schemes and jobs stay. */
export async function deleteDataset(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasetId: string,
): Promise<void> {
  const dataset = await requireDataset(db, user, workspaceId, datasetId);
  await db.deleteFrom('datasets').where('id', '=', dataset.id).execute();
}
