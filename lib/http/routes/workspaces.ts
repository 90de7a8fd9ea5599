import { route } from '../route.ts';
import { Paging } from '../schemas/common.ts';
import {
  WorkspaceCreate,
  WorkspaceIdParam,
  WorkspacePublic,
  WorkspacesPublic,
  WorkspaceUpdate,
} from '../schemas/workspaces.ts';
import { API } from './paths.ts';

/** Workspaces: the unit of ownership of every other resource. */
export const workspaces = {
  create: route({
    handler: 'workspaces.create',
    method: 'POST',
    path: `${API}/workspaces`,
    auth: 'user',
    summary: 'Create a workspace',
    tags: ['workspaces'],
    body: WorkspaceCreate,
    response: { status: 201, schema: WorkspacePublic },
  }),
  list: route({
    handler: 'workspaces.list',
    method: 'GET',
    path: `${API}/workspaces`,
    auth: 'user',
    summary: 'List the caller’s workspaces, oldest first',
    tags: ['workspaces'],
    query: Paging,
    response: { status: 200, schema: WorkspacesPublic },
  }),
  ensureDefault: route({
    handler: 'workspaces.ensureDefault',
    method: 'POST',
    path: `${API}/workspaces/ensure-default`,
    auth: 'user',
    summary: 'The caller’s oldest workspace, created as “Default Workspace” when they have none',
    tags: ['workspaces'],
    response: { status: 200, schema: WorkspacePublic },
  }),
  read: route({
    handler: 'workspaces.read',
    method: 'GET',
    path: `${API}/workspaces/{workspace_id}`,
    auth: 'user',
    summary: 'Read a workspace',
    tags: ['workspaces'],
    params: WorkspaceIdParam,
    response: { status: 200, schema: WorkspacePublic },
    errors: [404],
  }),
  update: route({
    handler: 'workspaces.update',
    method: 'PATCH',
    path: `${API}/workspaces/{workspace_id}`,
    auth: 'user',
    summary: 'Update a workspace',
    tags: ['workspaces'],
    params: WorkspaceIdParam,
    body: WorkspaceUpdate,
    response: { status: 200, schema: WorkspacePublic },
    errors: [404],
  }),
  delete: route({
    handler: 'workspaces.delete',
    method: 'DELETE',
    path: `${API}/workspaces/{workspace_id}`,
    auth: 'user',
    summary: 'Delete a workspace and everything in it',
    tags: ['workspaces'],
    params: WorkspaceIdParam,
    response: { status: 204 },
    errors: [404],
  }),
};
