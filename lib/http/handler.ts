import { type Logger, LogLevelThreshold } from '@aws-lambda-powertools/logger';
import middy, { type MiddlewareObj } from '@middy/core';
import httpSecurityHeaders from '@middy/http-security-headers';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { type Db, db } from '#lib/db/database.ts';
import type { User } from '#lib/db/schema.ts';
import { logger } from '#lib/logger.ts';
import { observeInvocation, recordRequest } from '#lib/observability/invocation.ts';
import {
  COMPAT_DEFAULT_LIMIT,
  COMPAT_MAX_BYTES,
  COMPAT_MAX_LIMIT,
  type RawInput,
  refusalError,
  routeKeyOf,
  type Variant,
  variantsOf,
} from './compat.ts';
import { ValidationError } from './errors.ts';
import { authenticate } from './middleware/authenticate.ts';
import { bodyParser, filesOf, type MultipartFile } from './middleware/body.ts';
import { queryKeys, validateInput } from './middleware/validate.ts';
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

const helmet = httpSecurityHeaders({
  // The only HTML page (/docs) sets its own policy; there is no reporting endpoint.
  contentSecurityPolicy: false,
  reportingEndpoints: false,
  reportTo: false,
} as Parameters<typeof httpSecurityHeaders>[0]);

/**
 * The headers middy's security middleware puts on an answer of a content type, worked out once
 * by running it on an empty answer: it builds them again, header by header, on every request,
 * for the same two results (one for HTML, one for everything else). Its `after` does all its
 * work before it returns, so the headers are there when the call returns.
 */
function helmetHeaders(contentType: string): Record<string, string | undefined> {
  const request = { response: { statusCode: 200, headers: { 'content-type': contentType } } };
  void helmet.after?.(request as never);
  const { 'content-type': _, ...headers } = request.response.headers as Record<string, string | undefined>;
  return headers;
}
const SECURITY_HEADERS = { html: helmetHeaders('text/html'), other: helmetHeaders('application/json') };

/** Adds the security headers to an answer, as @middy/http-security-headers does. */
function withSecurityHeaders(result: APIGatewayProxyStructuredResultV2): APIGatewayProxyStructuredResultV2 {
  result.headers ??= {};
  const type = String(result.headers['Content-Type'] ?? result.headers['content-type'] ?? '');
  Object.assign(result.headers, type.includes('text/html') ? SECURITY_HEADERS.html : SECURITY_HEADERS.other);
  return result;
}

const securityHeaders: MiddlewareObj<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2> = {
  after: (request) => {
    if (request.response) withSecurityHeaders(request.response);
  },
  onError: (request) => {
    if (request.response) withSecurityHeaders(request.response);
  },
};

/**
 * State of one invocation, from the first middleware to the handler. Kept on the Lambda
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
// On the context under a symbol, not in a WeakMap keyed by it: a WeakMap entry a request cost
// about 20 µs of CPU in `npm run bench`'s setting, in the garbage collector's ephemeron work.
const INVOCATION = Symbol('docsift.invocation');
type WithInvocation = Context & { [INVOCATION]?: Invocation };

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
  const invocation = (context as WithInvocation)[INVOCATION];
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
  const variants = new Map(variantsOf(route).map((v) => [routeKeyOf(v), v]));
  const own = variantsOf(route)[0]!;
  // The route key a request's metrics go under: the variant called (a bounded set), else its own.
  const keyOf = (event: APIGatewayProxyEventV2) =>
    variants.has(event.routeKey) ? event.routeKey : routeKeyOf(own);
  const lambda = middy<APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2>()
    .use(securityHeaders)
    .use({
      before: (request) => {
        const requestId = request.event.requestContext?.requestId ?? request.context.awsRequestId;
        (request.context as WithInvocation)[INVOCATION] = {
          requestId,
          functionName: request.context.functionName,
          startedAt: performance.now(),
        };
      },
      after: (request) => {
        const invocation = invocationOf(request.context);
        request.response = withRequestId(request.response, invocation.requestId);
        logRequest(keyOf(request.event), invocation, request.event, request.response.statusCode);
      },
      onError: (request) => {
        const invocation = (request.context as WithInvocation)[INVOCATION];
        const problem = toProblem(request.error, invocation?.requestId);
        if (problem.statusCode === 500)
          logger.error('Unhandled error', {
            ...(invocation && requestKeys(invocation)),
            error: request.error as Error,
          });
        request.response = invocation ? withRequestId(problem, invocation.requestId) : problem;
        if (invocation) logRequest(keyOf(request.event), invocation, request.event, problem.statusCode);
      },
    })
    .use({
      // Before the body is parsed: an anonymous caller learns nothing about the body's checks.
      before: async (request) => {
        const user = await authenticate(route.auth, request.event, db);
        if (user) invocationOf(request.context).user = user;
        // A reference operation docsift cannot serve: its problem, whatever the body.
        const refuse = variants.get(request.event.routeKey)?.refuse;
        if (refuse) throw refusalError(refuse);
      },
    })
    .use(bodyParser(route))
    .handler(async (event, context) => {
      const invocation = invocationOf(context);
      const { requestId, user } = invocation;
      // Which of the route's paths was called: its own, or the reference-client profile's.
      const variant = variants.get(event.routeKey) ?? own;
      let raw: RawInput = {
        params: event.pathParameters ?? {},
        query: event.queryStringParameters ?? {},
        body: event.body,
      };
      if (variant.input) raw = variant.input(raw);
      const paging =
        variant.compat && isKeysetPaged(route)
          ? takeSkipPaging(raw, variant.unpaged ? COMPAT_MAX_LIMIT : COMPAT_DEFAULT_LIMIT)
          : undefined;
      const input = validateInput(route, paging?.raw ?? raw);
      const request = {
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
      } as HttpRequest<R>;
      if (paging) return compatList(route, variant, request, handle, paging);
      return toResult(route, await handle(request), variant);
    });
  // The request id is the correlation id of everything the request causes (lib/observability).
  return (event, context) =>
    observeInvocation(`## ${keyOf(event)}`, event.requestContext?.requestId ?? context.awsRequestId, () =>
      lambda(event, context),
    ) as Promise<APIGatewayProxyStructuredResultV2>;
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
export function withStandardHeaders(
  result: APIGatewayProxyStructuredResultV2,
  requestId: string,
): APIGatewayProxyStructuredResultV2 {
  return withSecurityHeaders(withRequestId(result, requestId));
}

// The segment after these is a share token: docsift's `/shared/`, and the reference client's
// `…/access/` and `…/view_dataset_package_summary/` under the profile.
const TOKEN_SEGMENT = /(\/shared|\/shareables\/shareables\/(?:access|view_dataset_package_summary))\/[^/]*/g;

/**
 * A path as it may be logged: a share token is a bearer capability, so the segment after
 * `/shared/` (or the profile's token paths) becomes `{token}`.
 *
 * @example redactPath('/api/v1/shared/abc/records') // '/api/v1/shared/{token}/records'
 */
export function redactPath(path: string): string {
  return path.replace(TOKEN_SEGMENT, '$1/{token}');
}

function logRequest(
  routeKey: string,
  invocation: Invocation,
  event: APIGatewayProxyEventV2,
  status: number | undefined,
): void {
  const durationMs = Math.round(performance.now() - invocation.startedAt);
  // The line's fields cost more than the check, and production logs at INFO, the bench at ERROR.
  if (logger.level <= LogLevelThreshold.INFO)
    logger.info('request', {
      ...requestKeys(invocation),
      method: event.requestContext?.http?.method,
      path: redactPath(event.rawPath ?? ''),
      status,
      duration_ms: durationMs,
    });
  recordRequest(routeKey, status, durationMs);
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
function toResult<R extends Route>(
  route: R,
  result: HttpResult<R>,
  variant: Variant,
): APIGatewayProxyStructuredResultV2 {
  if (result instanceof RawResponse) return result.toResult();
  const { status, schema } = route.response;
  if (!schema || status === 204) return { statusCode: status };
  // A response that fails its own schema is a bug on our side: it throws, and becomes a 500.
  const body = schema.parse(result);
  if (variant.compat) return compatResult(status, variant, body);
  let json = JSON.stringify(body);
  // GET only: a create answering `{data: [...]}` lists what it made, which is not a page.
  if (route.method === 'GET' && isKeysetPage(body)) json = capPageBytes(body, json).json;
  return { statusCode: status, headers: { 'content-type': 'application/json' }, body: json };
}

/** A body as the reference-client profile answers it: reshaped, and a page's items alone where it wants an array. */
function compatResult(
  status: number,
  variant: Variant,
  body: unknown,
  headers: Record<string, string> = {},
): APIGatewayProxyStructuredResultV2 {
  const shaped = variant.output ? variant.output(body) : body;
  const answer = variant.array ? (shaped as { data: unknown[] }).data : shaped;
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(answer),
  };
}

/** A keyset-paged list: its query takes a `cursor`. */
function isKeysetPaged(route: Route): boolean {
  return queryKeys(route.query).includes('cursor');
}

type SkipPaging = { raw: RawInput; skip: number; limit: number };

/**
 * The reference's paging (`skip`, and `limit` up to {@link COMPAT_MAX_LIMIT}) taken out of the
 * query, so that the route's own paging checks the rest. Not whole numbers in range: a 422.
 * No `limit`: `defaultLimit` (the reference's 100, or all for a list it answers whole).
 */
function takeSkipPaging(raw: RawInput, defaultLimit: number): SkipPaging {
  const { skip = '0', limit = String(defaultLimit), ...query } = raw.query;
  const number = (name: string, text: string, min: number, max: number) => {
    const value = Number(text);
    if (!/^\d+$/.test(text) || value < min || value > max) {
      throw new ValidationError([
        { location: 'query', path: name, message: `A whole number from ${min} to ${max}` },
      ]);
    }
    return value;
  };
  return {
    raw: { ...raw, query },
    skip: number('skip', skip, 0, Number.MAX_SAFE_INTEGER),
    limit: number('limit', limit, 1, COMPAT_MAX_LIMIT),
  };
}

/**
 * A keyset-paged list served with `skip` and `limit`: the handler is called a page of up to
 * 1,000 at a time from the start (or the `cursor` given), the first `skip` items are passed
 * over and `limit` kept, up to {@link COMPAT_MAX_BYTES} of JSON (then `x-docsift-next-skip`
 * says where to go on). The cost grows with `skip`, as an OFFSET's does.
 */
async function compatList<R extends Route>(
  route: R,
  variant: Variant,
  request: HttpRequest<R>,
  handle: (request: HttpRequest<R>) => Promise<HttpResult<R>>,
  { skip, limit }: SkipPaging,
): Promise<APIGatewayProxyStructuredResultV2> {
  const schema = route.response.schema!;
  const query = request.query as { cursor?: string };
  const items: unknown[] = [];
  let cursor = query.cursor;
  let position = 0;
  let bytes = 0;
  let count = 0;
  let cut = false;
  for (;;) {
    const wanted = Math.min(1000, skip + limit - position);
    const result = await handle({ ...request, query: { ...query, limit: wanted, cursor } } as HttpRequest<R>);
    const page = schema.parse(result) as KeysetPage;
    count = page.count;
    for (const item of page.data) {
      if (position++ < skip) continue;
      const size = Buffer.byteLength(JSON.stringify(item)) + 1;
      if (items.length > 0 && bytes + size > COMPAT_MAX_BYTES) {
        cut = true;
        break;
      }
      items.push(item);
      bytes += size;
      if (items.length === limit) break;
    }
    if (cut || items.length === limit || !page.next_cursor) break;
    cursor = Buffer.from(page.next_cursor, 'base64url').toString();
  }
  const headers: Record<string, string> = cut ? { 'x-docsift-next-skip': String(skip + items.length) } : {};
  return compatResult(route.response.status, variant, { data: items, count, next_cursor: null }, headers);
}
