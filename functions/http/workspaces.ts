import { httpHandler } from '#lib/http/handler.ts';
import { workspaces } from '#lib/http/routes/workspaces.ts';
import { requireWorkspace } from '#lib/services/access.ts';
import {
  createWorkspace,
  deleteWorkspace,
  ensureDefaultWorkspace,
  listWorkspaces,
  toWorkspaceOut,
  updateWorkspace,
} from '#lib/services/workspaces.ts';

export const create = httpHandler(workspaces.create, async ({ db, user, body }) =>
  toWorkspaceOut(await createWorkspace(db, user, body)),
);

export const list = httpHandler(workspaces.list, async ({ db, user, query }) => {
  const page = await listWorkspaces(db, user, query);
  return { ...page, data: page.data.map(toWorkspaceOut) };
});

export const ensureDefault = httpHandler(workspaces.ensureDefault, async ({ db, user }) =>
  toWorkspaceOut(await ensureDefaultWorkspace(db, user)),
);

export const read = httpHandler(workspaces.read, async ({ db, user, params }) =>
  toWorkspaceOut(await requireWorkspace(db, user, params.workspace_id)),
);

export const update = httpHandler(workspaces.update, async ({ db, user, params, body }) =>
  toWorkspaceOut(await updateWorkspace(db, user, params.workspace_id, body)),
);

const deleteHandler = httpHandler(workspaces.delete, async ({ db, user, params }) => {
  await deleteWorkspace(db, user, params.workspace_id);
  return undefined;
});

export { deleteHandler as delete };
