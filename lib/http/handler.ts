import type { Logger } from '@aws-lambda-powertools/logger';
import middy from '@middy/core';
import httpSecurityHeaders from '@middy/http-security-headers';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { type Db, db } from '#lib/db/database.ts';
import type { User } from '#lib/db/schema.ts';
import { logger } from '#lib/logger.ts';
import { authenticate } from './middleware/authenticate.ts';
import { bodyParser, filesOf, type MultipartFile } from './middleware/body.ts';
import { validateInput } from './middleware/validate.ts';
import { toProblem } from './problem.ts';
import { RawResponse } from './response.ts';
import type { Route } from './route.ts';
import { encodeCursor } from './schemas/common.ts';

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;
type In<S> = S extends z.ZodType ? z.input<S> : undefined;

/** What a route's handler receives: validated input, the caller, the database and a logger. */
export type HttpRequest<R extends Route> = {
  params: R extends Route<infer P> ? (P extends z.ZodType ? z.output<P> : Record<string, never>) : never;
  query: R extends Route<z.ZodType, infer Q> ? Out<Q> : never;
  body: R extends Route<z.ZodType, z.ZodType, infer B> ? Out<B> : never;
  /** The caller; set on every route whose auth level is not `public` (`optional`: when a token came). */
  user: R['auth'] extends 'public' ? undefined : R['auth'] extends 'optional' ? User | undefined : User;
  db: Db;
  /** Files of a multipart request (routes that accept multipart only). */
  files: MultipartFile[];
  /** A logger whose every line carries this request's id. */
  log: Logger;
  event: APIGatewayProxyEventV2;
  requestId: string;
};

/** What a handler returns: the route's response body (before its schema's transforms), or a raw response. */
export type HttpResult<R extends Route> =
  | (R extends Route<z.ZodType, z.ZodType, z.ZodType, infer S> ? In<S> : never)
  | RawResponse
  | undefined;

export type HttpLambda = (
  event: APIGatewayProxyEventV2,
  context: Context,
) => Promise<APIGatewayProxyStructuredResultV2>;

const securityHeaders = httpSecurityHeaders({
  // The only HTML page (/docs) sets its own policy; there is no reporting endpoint.
  contentSecurityPolicy: false,
  reportingEndpoints: false,
  reportTo: false,
} as Parameters<typeof httpSecurityHeaders>[0]);

/**
 * State of one invocation, from the first middleware to the handler. Keyed by the Lambda
 * context, which is unique per invocation: the local runtime serves concurrent requests in one
 * process, so nothing per-request may live on a shared object.
 */
type Invocation = {
  requestId: string;
  functionName: string;
  startedAt: number;
  user?: User;
  /** Made by the first use of the request's `log` ({@link logOf}). */
  log?: Logger;
};
const invocations = new WeakMap<Context, Invocation>();

/** What every line about an invocation carries, to trace it in the function's logs. */
function requestKeys(invocation: Invocation): { request_id: string; function_name: string } {
  return { request_id: invocation.requestId, function_name: invocation.functionName };
}

/**
 * The request's own logger, every line with its request id: made on first use, since a
 * Powertools child logger (a Logger and a Console of its own) cost more than the rest of a
 * request's handling in `npm run bench`. The kit's own lines pass {@link requestKeys} instead.
 */
function logOf(invocation: Invocation): Logger {
  invocation.log ??= logger.createChild({ persistentKeys: requestKeys(invocation) });
  return invocation.log;
}

function invocationOf(context: Context): Invocation {
  const invocation = invocations.get(context);
  if (!invocation) throw new Error('httpHandler: invocation state missing');
  return invocation;
}

/**
 * Wraps a route's business function into a Lambda handler for API Gateway HTTP API (v2)
 * events: security headers, request id in every log line, problem responses for every
 * error, auth, body parsing, validation, and the response checked against its schema (which
 * also strips any field the schema does not list).
 *
 * @example export const readMe = httpHandler(routes.users.readMe, async ({ user }) => toUserOut(user));
 */
export function httpHandler<R extends Route>(
  route: R,
  handle: (request: HttpRequest<R>) => Promise<HttpResult<R>>,
): HttpLambda {
  const lambda = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(securityHeaders)
    .use({
      before: (request) => {
        const requestId = request.event.requestContext?.requestId ?? request.context.awsRequestId;
        invocations.set(request.context, {
          requestId,
          functionName: request.context.functionName,
          startedAt: performance.now(),
        });
      },
      after: (request) => {
        const invocation = invocationOf(request.context);
        request.response = withRequestId(request.response, invocation.requestId);
        logRequest(invocation, request.event, request.response.statusCode);
      },
      onError: (request) => {
        const invocation = invocations.get(request.context);
        const problem = toProblem(request.error, invocation?.requestId);
        if (problem.statusCode === 500)
          logger.error('Unhandled error', {
            ...(invocation && requestKeys(invocation)),
            error: request.error as Error,
          });
        request.response = invocation ? withRequestId(problem, invocation.requestId) : problem;
        if (invocation) logRequest(invocation, request.event, problem.statusCode);
      },
    })
    .use({
      // Before the body is parsed: an anonymous caller learns nothing about the body's checks.
      before: async (request) => {
        const user = await authenticate(route.auth, request.event, db);
        if (user) invocationOf(request.context).user = user;
      },
    })
    .use(bodyParser(route))
    .handler(async (event, context) => {
      const invocation = invocationOf(context);
      const { requestId, user } = invocation;
      const input = validateInput(route, {
        params: event.pathParameters,
        query: event.queryStringParameters,
        body: event.body,
      });
      const result = await handle({
        ...input,
        user,
        // Docs routes never resolve the database, so they work (and start fast) without one.
        db: route.usesDatabase === false ? (undefined as unknown as Db) : await db(),
        files: filesOf(event),
        get log() {
          return logOf(invocation);
        },
        event,
        requestId,
      } as HttpRequest<R>);
      return toResult(route, result);
    });
  return lambda as HttpLambda;
}

/**
 * Adds the request id and, unless the handler chose otherwise (docs assets), `no-store`:
 * answers are per caller and may carry personal data, so no cache along the way keeps them.
 */
function withRequestId(
  result: APIGatewayProxyStructuredResultV2,
  requestId: string,
): APIGatewayProxyStructuredResultV2 {
  return {
    ...result,
    headers: { 'cache-control': 'no-store', ...result.headers, 'x-request-id': requestId },
  };
}

/**
 * The headers the handler stack puts on every answer (security headers, `cache-control`, the
 * request id), for answers made outside it: the local runtime's own 400/404/405/413/500.
 */
export async function withStandardHeaders(
  result: APIGatewayProxyStructuredResultV2,
  requestId: string,
): Promise<APIGatewayProxyStructuredResultV2> {
  const request = { response: withRequestId(result, requestId) };
  await securityHeaders.after?.(request as never);
  return request.response;
}

/**
 * A path as it may be logged: a share token is a bearer capability, so the segment after
 * `/shared/` becomes `{token}`.
 *
 * @example redactPath('/api/v1/shared/abc/records') // '/api/v1/shared/{token}/records'
 */
export function redactPath(path: string): string {
  return path.replace(/\/shared\/[^/]*/g, '/shared/{token}');
}

function logRequest(invocation: Invocation, event: APIGatewayProxyEventV2, status: number | undefined): void {
  logger.info('request', {
    ...requestKeys(invocation),
    method: event.requestContext?.http?.method,
    path: redactPath(event.rawPath ?? ''),
    status,
    duration_ms: Math.round(performance.now() - invocation.startedAt),
  });
}

/**
 * A list page stops growing past this many bytes of JSON, whatever its `limit`: a Lambda
 * answers at most 6 MB, and list items are kept small (text previews), so a page cut here
 * stays far below. The page's `next_cursor` continues after its last item.
 */
export const MAX_PAGE_BYTES = 1024 * 1024;

type KeysetPage = { data: { id: string }[]; count: number; next_cursor: string | null };

function isKeysetPage(body: unknown): body is KeysetPage {
  const page = body as Partial<KeysetPage> | null;
  return (
    typeof page === 'object' &&
    page !== null &&
    Array.isArray(page.data) &&
    'next_cursor' in page &&
    page.data.every((item) => typeof item?.id === 'string')
  );
}

/**
 * Cuts a list page to {@link MAX_PAGE_BYTES} (at least one item). Every list is keyset-paged on
 * its time-ordered ids (`listOf`, `toPage`), so the cursor after the last item kept is that
 * item's id, whichever list it is.
 */
function capPageBytes(body: KeysetPage, json: string): { body: KeysetPage; json: string } {
  if (Buffer.byteLength(json) <= MAX_PAGE_BYTES) return { body, json };
  let bytes = 0;
  let kept = 0;
  for (const item of body.data) {
    bytes += Buffer.byteLength(JSON.stringify(item)) + 1;
    if (kept > 0 && bytes > MAX_PAGE_BYTES) break;
    kept++;
  }
  if (kept === body.data.length) return { body, json };
  const data = body.data.slice(0, kept);
  const page = { ...body, data, next_cursor: encodeCursor(data.at(-1)!.id) };
  return { body: page, json: JSON.stringify(page) };
}

/** Shapes a handler's result into the route's response, checked against its schema. */
function toResult<R extends Route>(route: R, result: HttpResult<R>): APIGatewayProxyStructuredResultV2 {
  if (result instanceof RawResponse) return result.toResult();
  const { status, schema } = route.response;
  if (!schema || status === 204) return { statusCode: status };
  // A response that fails its own schema is a bug on our side: it throws, and becomes a 500.
  const body = schema.parse(result);
  let json = JSON.stringify(body);
  // GET only: a create answering `{data: [...]}` lists what it made, which is not a page.
  if (route.method === 'GET' && isKeysetPage(body)) json = capPageBytes(body, json).json;
  return { statusCode: status, headers: { 'content-type': 'application/json' }, body: json };
}
