import { route } from '../route.ts';
import { UsageQuery, WorkspaceUsage } from '../schemas/usage.ts';
import { WorkspaceIdParam } from '../schemas/workspaces.ts';
import { WS } from './paths.ts';

/** What a workspace's LLM calls used and cost. */
export const usage = {
  workspace: route({
    handler: 'usage.workspace',
    method: 'GET',
    path: `${WS}/usage`,
    auth: 'user',
    summary: 'Tokens and cost of the workspace’s LLM calls, per UTC day, provider and model',
    tags: ['usage'],
    params: WorkspaceIdParam,
    query: UsageQuery,
    response: { status: 200, schema: WorkspaceUsage },
    errors: [404],
  }),
};
