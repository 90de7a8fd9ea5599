import * as z from 'zod';
import { route } from '../route.ts';
import { API } from './paths.ts';

/** Health, the OpenAPI document and its interactive docs. */
export const system = {
  health: route({
    handler: 'system.health',
    method: 'GET',
    path: `${API}/healthz`,
    auth: 'public',
    summary: 'Liveness and database check',
    tags: ['system'],
    response: { status: 200, schema: z.object({ status: z.literal('ok'), database: z.literal('ok') }) },
    errors: [503],
  }),
  openapi: route({
    handler: 'system.openapi',
    method: 'GET',
    path: `${API}/openapi.json`,
    auth: 'public',
    summary: 'This API’s OpenAPI 3.1 document',
    tags: ['system'],
    usesDatabase: false,
    documented: false,
    response: { status: 200, description: 'The OpenAPI document', contentType: 'application/json' },
  }),
  docs: route({
    handler: 'system.docs',
    method: 'GET',
    path: '/docs',
    auth: 'public',
    summary: 'Interactive API docs (Swagger UI, served from the package, works offline)',
    tags: ['system'],
    usesDatabase: false,
    documented: false,
    response: { status: 200, description: 'An HTML page', contentType: 'text/html' },
  }),
  docsAsset: route({
    handler: 'system.docsAsset',
    method: 'GET',
    path: '/docs/{asset}',
    auth: 'public',
    summary: 'Swagger UI’s script and style sheet',
    tags: ['system'],
    params: z.object({ asset: z.string() }),
    usesDatabase: false,
    documented: false,
    response: { status: 200, description: 'A static file', contentType: ['text/css', 'text/javascript'] },
    errors: [404],
  }),
};
