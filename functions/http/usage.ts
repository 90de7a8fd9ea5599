import { httpHandler } from '#lib/http/handler.ts';
import { usage } from '#lib/http/routes/usage.ts';
import { workspaceUsage } from '#lib/services/usage.ts';

export const workspace = httpHandler(usage.workspace, async ({ db, user, params, query }) =>
  workspaceUsage(db, user, params.workspace_id, query),
);
