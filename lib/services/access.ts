import { sql } from 'kysely';
import type { Db } from '#lib/db/database.ts';
import type { Datasource, User, Workspace } from '#lib/db/schema.ts';
import { ConflictError, type FieldError, NotFoundError } from '#lib/errors.ts';

// The access checks every workspace-scoped service starts with, in a module of their own that
// imports no other service: services that need them (schemes, records, datasources, …) no longer
// import each other for them, which is what made the import graph circular.

/**
 * The workspace `id` if `user` owns it, else a 404 (never a 403: another tenant's workspace
 * does not exist for the caller; a deleted one, whose records the worker is still deleting,
 * exists for no one). Every workspace-scoped operation starts here.
 */
export async function requireWorkspace(db: Db, user: Pick<User, 'id'>, id: string): Promise<Workspace> {
  const workspace = await db
    .selectFrom('workspaces')
    .selectAll()
    .where('id', '=', id)
    .where('owner_id', '=', user.id)
    .where('deleted_at', 'is', null)
    .executeTakeFirst();
  if (!workspace) throw new NotFoundError('Workspace not found');
  return workspace;
}

/** A datasource of the caller's workspace, or 404. */
export async function requireDatasource(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasourceId: string,
): Promise<Datasource> {
  await requireWorkspace(db, user, workspaceId);
  const datasource = await db
    .selectFrom('datasources')
    .selectAll()
    .where('id', '=', datasourceId)
    .where('workspace_id', '=', workspaceId)
    .executeTakeFirst();
  if (!datasource) throw new NotFoundError('Datasource not found');
  return datasource;
}

export const DATASOURCE_DELETING = 'The datasource is being deleted';

/**
 * A datasource of the caller's workspace that new work may name: a 409 while it is being
 * deleted (it still reads, `status: deleting`, its records going). Every mutation that loads a
 * datasource (reprocess, append, PATCH) starts here.
 */
export async function requireChangeableDatasource(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  datasourceId: string,
): Promise<Datasource> {
  const datasource = await requireDatasource(db, user, workspaceId, datasourceId);
  if (datasource.status === 'deleting') throw new ConflictError(DATASOURCE_DELETING);
  return datasource;
}

/**
 * A 409 when any of `ids` names a datasource being deleted: a job, a task, a dataset filter, an
 * export or a share link must not start new work over it. Unknown ids are left to the caller's
 * own check (a 422 or 404 naming them).
 */
export async function refuseDeletingDatasources(db: Db, ids: string[] | string | undefined): Promise<void> {
  const list = ids === undefined ? [] : typeof ids === 'string' ? [ids] : ids;
  if (list.length === 0) return;
  const deleting = await db
    .selectFrom('datasources')
    .select('id')
    .where(sql<boolean>`id = any(${list}::uuid[])`)
    .where('status', '=', 'deleting')
    .executeTakeFirst();
  if (deleting) throw new ConflictError(`${DATASOURCE_DELETING}: ${deleting.id}`);
}

/**
 * A field error for each id that is not a row of `table` in the workspace, naming its path
 * (`scheme_ids.1`): another workspace's ids are refused like unknown ones. Empty when all are.
 *
 * @example refuse(await idsNotInWorkspace(db, ws, 'datasources', body.datasource_ids, 'datasource_ids'))
 */
export async function idsNotInWorkspace(
  db: Db,
  workspaceId: string,
  table: 'classification_schemes' | 'datasources' | 'records',
  ids: string[],
  path: string,
): Promise<FieldError[]> {
  if (ids.length === 0) return [];
  const found = await db
    .selectFrom(table)
    .select('id')
    .where('workspace_id', '=', workspaceId)
    // An array, not an IN list: up to 100,000 record ids, above Postgres's 65,535 parameters.
    .where(sql<boolean>`id = any(${ids}::uuid[])`)
    .execute();
  const known = new Set(found.map((r) => r.id));
  return ids.flatMap((id, i) =>
    known.has(id)
      ? []
      : [{ location: 'body' as const, path: `${path}.${i}`, message: 'Not found in this workspace' }],
  );
}
