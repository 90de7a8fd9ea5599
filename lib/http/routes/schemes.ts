import { route } from '../route.ts';
import {
  SchemeCreate,
  SchemeParams,
  SchemePublic,
  SchemesPublic,
  SchemeUpdate,
} from '../schemas/classification.ts';
import { Paging } from '../schemas/common.ts';
import { WorkspaceIdParam } from '../schemas/workspaces.ts';
import { WS } from './paths.ts';

/** Classification schemes of a workspace. */
export const schemes = {
  create: route({
    handler: 'schemes.create',
    method: 'POST',
    path: `${WS}/classification_schemes`,
    auth: 'user',
    summary: 'Create a classification scheme with typed fields',
    tags: ['classification'],
    params: WorkspaceIdParam,
    body: SchemeCreate,
    response: { status: 201, schema: SchemePublic },
    errors: [404],
  }),
  list: route({
    handler: 'schemes.list',
    method: 'GET',
    path: `${WS}/classification_schemes`,
    auth: 'user',
    summary: 'List the workspace’s schemes',
    tags: ['classification'],
    params: WorkspaceIdParam,
    query: Paging,
    response: { status: 200, schema: SchemesPublic },
    errors: [404],
  }),
  deleteAll: route({
    handler: 'schemes.deleteAll',
    method: 'DELETE',
    path: `${WS}/classification_schemes`,
    auth: 'user',
    summary: 'Delete every scheme of the workspace with their results',
    tags: ['classification'],
    params: WorkspaceIdParam,
    response: { status: 204 },
    errors: [404],
  }),
  read: route({
    handler: 'schemes.read',
    method: 'GET',
    path: `${WS}/classification_schemes/{scheme_id}`,
    auth: 'user',
    summary: 'Read a scheme',
    tags: ['classification'],
    params: SchemeParams,
    response: { status: 200, schema: SchemePublic },
    errors: [404],
  }),
  update: route({
    handler: 'schemes.update',
    method: 'PATCH',
    path: `${WS}/classification_schemes/{scheme_id}`,
    auth: 'user',
    summary: 'Update a scheme (its fields are frozen once it has results: 409)',
    tags: ['classification'],
    params: SchemeParams,
    body: SchemeUpdate,
    response: { status: 200, schema: SchemePublic },
    errors: [404, 409],
  }),
  delete: route({
    handler: 'schemes.delete',
    method: 'DELETE',
    path: `${WS}/classification_schemes/{scheme_id}`,
    auth: 'user',
    summary: 'Delete a scheme with its results',
    tags: ['classification'],
    params: SchemeParams,
    response: { status: 204 },
    errors: [404],
  }),
};
