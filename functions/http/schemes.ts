import { httpHandler } from '#lib/http/handler.ts';
import { schemes } from '#lib/http/routes/schemes.ts';
import {
  createScheme,
  deleteAllSchemes,
  deleteScheme,
  listSchemes,
  requireScheme,
  schemeOut,
  updateScheme,
} from '#lib/services/schemes.ts';

export const create = httpHandler(schemes.create, async ({ db, user, params, body }) =>
  schemeOut(db, await createScheme(db, user, params.workspace_id, body)),
);

export const list = httpHandler(schemes.list, async ({ db, user, params, query }) =>
  listSchemes(db, user, params.workspace_id, query),
);

export const read = httpHandler(schemes.read, async ({ db, user, params }) =>
  schemeOut(db, await requireScheme(db, user, params.workspace_id, params.scheme_id)),
);

export const update = httpHandler(schemes.update, async ({ db, user, params, body }) =>
  schemeOut(db, await updateScheme(db, user, params.workspace_id, params.scheme_id, body)),
);

const deleteHandler = httpHandler(schemes.delete, async ({ db, user, params }) => {
  await deleteScheme(db, user, params.workspace_id, params.scheme_id);
  return undefined;
});

export { deleteHandler as delete };

export const deleteAll = httpHandler(schemes.deleteAll, async ({ db, user, params }) => {
  await deleteAllSchemes(db, user, params.workspace_id);
  return undefined;
});
