import { defaultSchemes } from '#lib/classify/index.ts';
import type { Db } from '#lib/db/database.ts';
import { keysetPage } from '#lib/db/paging.ts';
import type { User, Workspace } from '#lib/db/schema.ts';
import { NotFoundError } from '#lib/errors.ts';
import type { Paging } from '#lib/http/schemas/common.ts';
import { newId } from '#lib/ids.ts';
import { workspaceFolder } from '#lib/ingest/messages.ts';
import { requireWorkspace } from './access.ts';
import {
  type DeleteDeps,
  defaultDeleteDeps,
  fitsInline,
  markWorkspacesDeleted,
  sendDeletes,
} from './deletes.ts';
import { purgeFolders } from './purge.ts';
import { insertScheme } from './schemes.ts';

export const DEFAULT_WORKSPACE_NAME = 'Default Workspace';

export type WorkspaceOut = {
  id: string;
  name: string;
  description: string | null;
  icon: string | null;
  owner_id: string;
  user_id_ownership: string;
  created_at: string;
  updated_at: string;
};

export function toWorkspaceOut(w: Workspace): WorkspaceOut {
  return {
    id: w.id,
    name: w.name,
    description: w.description,
    icon: w.icon,
    owner_id: w.owner_id,
    user_id_ownership: w.owner_id,
    created_at: w.created_at.toISOString(),
    updated_at: w.updated_at.toISOString(),
  };
}

export type WorkspaceFields = {
  name: string;
  description?: string | null | undefined;
  icon?: string | null | undefined;
};

export function createWorkspace(
  db: Db,
  owner: Pick<User, 'id'>,
  fields: WorkspaceFields,
): Promise<Workspace> {
  return db
    .insertInto('workspaces')
    .values({
      id: newId(),
      name: fields.name,
      description: fields.description ?? null,
      icon: fields.icon ?? null,
      owner_id: owner.id,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The owner's workspaces in creation order, a page at a time. */
export async function listWorkspaces(
  db: Db,
  owner: Pick<User, 'id'>,
  paging: Paging,
): Promise<{ data: Workspace[]; count: number; next_cursor: string | null }> {
  return keysetPage<Workspace>(
    db.selectFrom('workspaces').where('owner_id', '=', owner.id).where('deleted_at', 'is', null),
    paging,
  );
}

export async function updateWorkspace(
  db: Db,
  owner: Pick<User, 'id'>,
  id: string,
  changes: Partial<WorkspaceFields>,
): Promise<Workspace> {
  const values = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined));
  if (Object.keys(values).length === 0) return requireWorkspace(db, owner, id);
  const updated = await db
    .updateTable('workspaces')
    .set(values)
    .where('id', '=', id)
    .where('owner_id', '=', owner.id)
    .where('deleted_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
  if (!updated) throw new NotFoundError('Workspace not found');
  return updated;
}

/**
 * Deletes a workspace; everything in it goes with it (ON DELETE CASCADE), and its stored files
 * are purged once the delete has committed. A workspace too large to delete within a request
 * ({@link fitsInline}) is marked deleted instead, gone for everyone at once, and the ingest
 * worker deletes its records in chunks, then its row and files (lib/services/deletes.ts).
 */
export async function deleteWorkspace(
  db: Db,
  owner: Pick<User, 'id'>,
  id: string,
  deps: DeleteDeps = defaultDeleteDeps(),
): Promise<void> {
  await requireWorkspace(db, owner, id);
  const inline = await fitsInline(db, { workspaceIds: [id] }, deps.inlineMaxRecords);
  const marked = await db.transaction().execute(async (trx) => {
    if (inline) {
      const result = await trx
        .deleteFrom('workspaces')
        .where('id', '=', id)
        .where('owner_id', '=', owner.id)
        .where('deleted_at', 'is', null)
        .executeTakeFirst();
      if (result.numDeletedRows === 0n) throw new NotFoundError('Workspace not found');
      return false;
    }
    const [workspace] = await markWorkspacesDeleted(
      trx,
      (
        await trx
          .selectFrom('workspaces')
          .select('id')
          .where('id', '=', id)
          .where('owner_id', '=', owner.id)
          .execute()
      ).map((w) => w.id),
    );
    if (!workspace) throw new NotFoundError('Workspace not found');
    return true;
  });
  if (marked) await sendDeletes(deps, [{ kind: 'delete_workspace', workspace_id: id }]);
  else await purgeFolders(deps.adapters, deps.ingestQueue)([workspaceFolder(id)]);
}

/**
 * The owner's oldest workspace, or a new "Default Workspace" (seeded with the example
 * schemes) when they have none. Two calls
 * racing for a user with no workspace must not create two: the owner's row is locked while
 * deciding.
 */
export function ensureDefaultWorkspace(db: Db, owner: Pick<User, 'id'>): Promise<Workspace> {
  return db.transaction().execute(async (trx) => {
    await trx.selectFrom('users').select('id').where('id', '=', owner.id).forUpdate().executeTakeFirst();
    const oldest = await trx
      .selectFrom('workspaces')
      .selectAll()
      .where('owner_id', '=', owner.id)
      .where('deleted_at', 'is', null)
      .orderBy('created_at')
      .orderBy('id')
      .limit(1)
      .executeTakeFirst();
    if (oldest) return oldest;
    const created = await createWorkspace(trx, owner, { name: DEFAULT_WORKSPACE_NAME });
    // A new default workspace starts with the reference system's example schemes.
    for (const scheme of defaultSchemes()) await insertScheme(trx, created.id, scheme);
    return created;
  });
}
