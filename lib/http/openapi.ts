import { z } from 'zod';
import { createDocument, type ZodOpenApiOperationObject, type ZodOpenApiPathsObject } from 'zod-openapi';
import { MEDIA_TYPES, type Route } from './route.ts';
import { routes } from './routes.ts';
import { Problem } from './schemas/common.ts';

// A multipart body is a form: its fields are strings (JSON in `options`), its files binary.
const MultipartForm = z
  .object({
    name: z.string(),
    type: z.string(),
    options: z.string().meta({ description: 'The options object, as JSON' }),
    files: z.array(z.string().meta({ format: 'binary' })),
  })
  .meta({ id: 'MultipartDatasourceForm' });

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Malformed request, or a rule of the operation refused it',
  401: 'Missing, invalid or expired access token',
  403: 'Authenticated but not allowed',
  404: 'Not found, or not yours',
  409: 'Conflicts with existing data',
  410: 'Gone: the link expired or was used up',
  415: 'Unsupported body media type',
  422: 'A field failed validation (see errors[])',
  503: 'A dependency is unavailable',
};

function problem(description: string) {
  return { description, content: { 'application/problem+json': { schema: Problem } } };
}

function operation(route: Route): ZodOpenApiOperationObject {
  const statuses = new Set<number>(route.errors ?? []);
  if (route.auth !== 'public') statuses.add(401);
  if (route.params || route.query || route.body) statuses.add(422);
  if (route.body) statuses.add(415).add(400);
  const { status, schema, description, contentType } = route.response;
  const success = schema
    ? { description: description ?? 'OK', content: { 'application/json': { schema } } }
    : { description: description ?? 'No content', ...(contentType && { content: { [contentType]: {} } }) };
  return {
    operationId: route.handler.replace('.', '_'),
    summary: route.summary,
    tags: route.tags,
    ...(route.auth !== 'public' && {
      // `optional`: a token is taken when sent; the empty requirement says none is needed.
      security: route.auth === 'optional' ? [{ bearer: [] }, {}] : [{ bearer: [] }],
    }),
    requestParams: {
      ...(route.params && { path: route.params as z.ZodObject }),
      ...(route.query && { query: route.query as z.ZodObject }),
    },
    ...(route.body && {
      requestBody: {
        required: true,
        content: Object.fromEntries(
          (route.bodyTypes ?? ['json']).map((t) => [
            MEDIA_TYPES[t],
            { schema: t === 'multipart' ? MultipartForm : route.body! },
          ]),
        ),
      },
    }),
    responses: {
      [String(status)]: success,
      ...Object.fromEntries(
        [...statuses].sort().map((s) => [String(s), problem(ERROR_DESCRIPTIONS[s] ?? 'Error')]),
      ),
    },
  };
}

/** The OpenAPI 3.1 document of every route in the route table. */
export function openApiDocument(table: Route[] = routes): ReturnType<typeof createDocument> {
  const paths: ZodOpenApiPathsObject = {};
  for (const route of table) {
    const method = route.method.toLowerCase() as 'get';
    paths[route.path] = { ...paths[route.path], [method]: operation(route) };
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'docsift',
      version: '0.1.0',
      description: 'Document ingestion and LLM classification. Errors are RFC 9457 problem details.',
    },
    servers: [{ url: '/' }],
    components: {
      securitySchemes: {
        bearer: {
          type: 'oauth2',
          flows: { password: { tokenUrl: '/api/v1/login/access-token', scopes: {} } },
        },
      },
    },
    paths,
  });
}
