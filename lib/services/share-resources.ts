import { sql } from 'kysely';
import type { Db } from '#lib/db/database.ts';
import type { ShareResourceType } from '#lib/db/schema.ts';
import { jobOut } from './jobs.ts';
import { schemeOut } from './schemes.ts';

/** Where a shareable resource lives, its name, and what a link's holder first sees of it. */
export type ShareableResource = { workspace_id: string; name: string };

/**
 * How one type of resource is found for sharing: `locate` answers its workspace and name (or
 * undefined when it does not exist), `summarize` what `GET /shared/{token}` shows of it.
 */
export type ShareableResolver = {
  locate(db: Db, id: string): Promise<ShareableResource | undefined>;
  summarize(db: Db, id: string): Promise<Record<string, unknown> | undefined>;
};

const datasource: ShareableResolver = {
  locate: (db, id) =>
    db.selectFrom('datasources').select(['workspace_id', 'name']).where('id', '=', id).executeTakeFirst(),
  summarize: (db, id) =>
    db
      .selectFrom('datasources')
      .select(['id', 'name', 'type', 'status', 'record_count', 'created_at', 'updated_at'])
      .where('id', '=', id)
      .executeTakeFirst(),
};

const scheme: ShareableResolver = {
  locate: (db, id) =>
    db
      .selectFrom('classification_schemes')
      .select(['workspace_id', 'name'])
      .where('id', '=', id)
      .executeTakeFirst(),
  async summarize(db, id) {
    const row = await db
      .selectFrom('classification_schemes')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && schemeOut(db, row);
  },
};

const job: ShareableResolver = {
  locate: (db, id) =>
    db
      .selectFrom('classification_jobs')
      .select(['workspace_id', 'name'])
      .where('id', '=', id)
      .executeTakeFirst(),
  async summarize(db, id) {
    const row = await db
      .selectFrom('classification_jobs')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && jobOut(db, row);
  },
};

const workspace: ShareableResolver = {
  async locate(db, id) {
    const row = await db
      .selectFrom('workspaces')
      .select(['id', 'name'])
      .where('id', '=', id)
      .where('deleted_at', 'is', null)
      .executeTakeFirst();
    return row && { workspace_id: row.id, name: row.name };
  },
  async summarize(db, id) {
    const row = await db
      .selectFrom('workspaces')
      .select(['id', 'name', 'description', 'icon', 'created_at'])
      .select((eb) => [
        eb
          .selectFrom('datasources')
          .select(eb.fn.countAll<number>().as('n'))
          .whereRef('workspace_id', '=', 'workspaces.id')
          .as('datasources'),
        eb
          .selectFrom('classification_schemes')
          .select(eb.fn.countAll<number>().as('n'))
          .whereRef('workspace_id', '=', 'workspaces.id')
          .as('schemes'),
        eb
          .selectFrom('classification_jobs')
          .select(eb.fn.countAll<number>().as('n'))
          .whereRef('workspace_id', '=', 'workspaces.id')
          .as('jobs'),
      ])
      .where('id', '=', id)
      .executeTakeFirst();
    if (!row) return undefined;
    const { datasources, schemes, jobs, ...rest } = row;
    return {
      ...rest,
      counts: { datasources: Number(datasources), schemes: Number(schemes), jobs: Number(jobs) },
    };
  },
};

async function datasetRow(db: Db, id: string) {
  return db
    .selectFrom('datasets')
    .select(['id', 'workspace_id', 'name', 'description'])
    .where('id', '=', id)
    .executeTakeFirst();
}

const dataset: ShareableResolver = {
  async locate(db, id) {
    const row = await datasetRow(db, id);
    return row && { workspace_id: row.workspace_id, name: row.name };
  },
  async summarize(db, id) {
    const [row, members, schemes, jobs] = await Promise.all([
      datasetRow(db, id),
      db
        .selectFrom('dataset_records')
        .select(sql<number>`count(*)::int`.as('count'))
        .where('dataset_id', '=', id)
        .executeTakeFirstOrThrow(),
      db
        .selectFrom('dataset_schemes as ds')
        .innerJoin('classification_schemes as s', 's.id', 'ds.scheme_id')
        .select(['s.id', 's.name', 's.description'])
        .where('ds.dataset_id', '=', id)
        .orderBy('s.id')
        .execute(),
      db
        .selectFrom('dataset_jobs as dj')
        .innerJoin('classification_jobs as j', 'j.id', 'dj.job_id')
        .select(['j.id', 'j.name', 'j.description'])
        .where('dj.dataset_id', '=', id)
        .orderBy('j.id')
        .execute(),
    ]);
    return row && { ...row, member_count: members.count, schemes, jobs };
  },
};

/** One resolver per shareable type: a new type (or a richer dataset) is one entry here. */
export const SHAREABLE_RESOLVERS: Record<ShareResourceType, ShareableResolver> = {
  datasource,
  scheme,
  classification_job: job,
  dataset,
  workspace,
};

/** Human names for messages ("Datasource not found"). */
export const SHAREABLE_NAMES: Record<ShareResourceType, string> = {
  datasource: 'Datasource',
  scheme: 'Classification scheme',
  classification_job: 'Classification job',
  dataset: 'Dataset',
  workspace: 'Workspace',
};
