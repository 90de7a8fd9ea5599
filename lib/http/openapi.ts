import * as z from 'zod';
import {
  createDocument,
  type ZodOpenApiOperationObject,
  type ZodOpenApiPathsObject,
  type ZodOpenApiResponseObject,
} from 'zod-openapi';
import { type AlternativeResponse, MEDIA_TYPES, type Route } from './route.ts';
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
  413: 'The request or its upload is too large',
  415: 'Unsupported body media type',
  422: 'A field failed validation (see errors[])',
  503: 'A dependency is unavailable',
};

/**
 * What each tag of the route table groups. A tag used by a route but missing here fails the
 * OpenAPI lint (`tag-description`) and openapi.test.ts, which name it.
 */
export const TAG_DESCRIPTIONS: Record<string, string> = {
  login: 'Access tokens (OAuth2 password flow), password recovery and reset.',
  users: 'The current user, sign-up, and user administration for superusers.',
  workspaces: 'Workspaces: the unit of ownership for datasources, schemes, jobs and tasks.',
  datasources:
    'Documents in: PDFs, CSVs, URL lists and text, uploaded through presigned POSTs and split into records.',
  records: 'The records a datasource produced: listed, searched, read and deleted.',
  classification:
    'Schemes of typed fields, background jobs that classify records with an LLM, and their results.',
  'recurring tasks': 'Ingest and classify on a schedule (EventBridge Scheduler in AWS).',
  bundles:
    'Export a datasource, scheme, job or workspace as a signed, versioned bundle, and import bundles (and the reference system’s JSON exports) with every id remapped.',
  datasets: 'Curated sets of records, with the schemes and jobs whose results they carry, and their exports.',
  sharing:
    'Share links: expiring, counted, revocable tokens that let anyone (or any signed-in user) read one resource, or import it.',
  usage: 'Tokens and cost of LLM calls, per workspace, day, provider and model (prices from configuration).',
  webhooks:
    'Lifecycle events (datasource, job, task run, import) POSTed to your URLs, signed with HMAC-SHA256 (`docsift-signature`), retried with backoff, with a delivery log; see docs/events.md.',
  system: 'Health.',
};

const AUTH_NOTES: Record<Route['auth'], string> = {
  public: 'Public: no access token needed.',
  user: 'Needs an access token (`Authorization: Bearer …`).',
  superuser: 'Superusers only.',
  optional: 'An access token is taken when sent (share links that require a login need one).',
};

function problem(description: string) {
  return { description, content: { 'application/problem+json': { schema: Problem } } };
}

const LOCATION = {
  Location: {
    description: 'Where the answer is',
    schema: { type: 'string' as const, format: 'uri-reference' },
  },
};

function mediaTypes(types: string | string[] | undefined): string[] {
  return types === undefined ? [] : typeof types === 'string' ? [types] : types;
}

function alternative(alt: AlternativeResponse): ZodOpenApiResponseObject {
  return {
    description: alt.description,
    ...((alt.redirect || alt.location) && { headers: LOCATION }),
    ...(alt.schema && { content: { 'application/json': { schema: alt.schema } } }),
  };
}

/** A route's description: its summary, then who may call it. */
function describe(route: Route): string {
  const summary = route.summary.endsWith('.') ? route.summary : `${route.summary}.`;
  return `${summary}\n\n${AUTH_NOTES[route.auth]}`;
}

function operation(route: Route): ZodOpenApiOperationObject {
  const statuses = new Set<number>(route.errors ?? []);
  if (route.auth !== 'public') statuses.add(401);
  if (route.params || route.query || route.body) statuses.add(422);
  if (route.body) statuses.add(415).add(400);
  const { status, schema, description, contentType, alternatives = [] } = route.response;
  const raw = mediaTypes(contentType);
  const success: ZodOpenApiResponseObject = schema
    ? { description: description ?? 'OK', content: { 'application/json': { schema } } }
    : {
        description: description ?? 'No content',
        ...(raw.length && { content: Object.fromEntries(raw.map((t) => [t, {}])) }),
        ...(status >= 300 && status < 400 && { headers: LOCATION }),
      };
  return {
    operationId: route.handler.replace('.', '_'),
    summary: route.summary,
    description: describe(route),
    tags: route.tags,
    // Public operations say so (`security: []`); `optional` takes a token when one is sent.
    security:
      route.auth === 'public' ? [] : route.auth === 'optional' ? [{ bearer: [] }, {}] : [{ bearer: [] }],
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
      ...Object.fromEntries(alternatives.map((alt) => [String(alt.status), alternative(alt)])),
      ...Object.fromEntries(
        [...statuses].sort().map((s) => [String(s), problem(ERROR_DESCRIPTIONS[s] ?? 'Error')]),
      ),
    },
  };
}

/** The statuses the API document declares for a route: its success, its alternatives, its errors. */
export function declaredStatuses(route: Route): number[] {
  const op = operation(route);
  return Object.keys(op.responses ?? {}).map(Number);
}

/**
 * The OpenAPI 3.1 document of every API route in the route table. The routes that serve the
 * docs (the page, its assets, this document) are left out: they are not operations of the API.
 */
export function openApiDocument(table: Route[] = routes): ReturnType<typeof createDocument> {
  const paths: ZodOpenApiPathsObject = {};
  const tags = new Set<string>();
  for (const route of table) {
    if (route.documented === false) continue;
    const method = route.method.toLowerCase() as 'get';
    paths[route.path] = { ...paths[route.path], [method]: operation(route) };
    for (const tag of route.tags) tags.add(tag);
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'docsift',
      version: '0.1.0',
      description:
        'Document ingestion and LLM classification. JSON in snake_case; lists are keyset-paged ' +
        '(`limit`, `cursor` → `next_cursor`); errors are RFC 9457 problem details. ' +
        'Swagger UI: `/docs`; this document: `/api/v1/openapi.json`.',
      contact: { name: 'docsift maintainers' },
      license: { name: 'UNLICENSED' },
    },
    servers: [{ url: '/', description: 'The deployment serving this document' }],
    tags: [...tags].map((name) => ({
      name,
      ...(TAG_DESCRIPTIONS[name] && { description: TAG_DESCRIPTIONS[name] }),
    })),
    components: {
      securitySchemes: {
        bearer: {
          type: 'oauth2',
          description:
            'An access token from POST /api/v1/login/access-token, sent as `Authorization: Bearer …`.',
          flows: { password: { tokenUrl: '/api/v1/login/access-token', scopes: {} } },
        },
      },
    },
    paths,
  });
}
