import middy from '@middy/core';
import httpSecurityHeaders from '@middy/http-security-headers';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { z } from 'zod';
import { type Db, db } from '#lib/db/database.ts';
import type { User } from '#lib/db/schema.ts';
import { logger } from '#lib/logger.ts';
import { authenticate } from './middleware/authenticate.ts';
import { bodyParser } from './middleware/body.ts';
import { validateInput } from './middleware/validate.ts';
import { toProblem } from './problem.ts';
import { RawResponse } from './response.ts';
import type { Route } from './route.ts';

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;
type In<S> = S extends z.ZodType ? z.input<S> : undefined;

/** What a route's handler receives: validated input, the caller, and the database. */
export type HttpRequest<R extends Route> = {
  params: R extends Route<infer P> ? (P extends z.ZodType ? z.output<P> : Record<string, never>) : never;
  query: R extends Route<z.ZodType, infer Q> ? Out<Q> : never;
  body: R extends Route<z.ZodType, z.ZodType, infer B> ? Out<B> : never;
  /** The caller; set on every route whose auth level is not `public`. */
  user: R['auth'] extends 'public' ? undefined : User;
  db: Db;
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

// The authenticated caller of each invocation, from the auth step to the handler.
const callers = new WeakMap<Context, User>();

function requestIdOf(event: APIGatewayProxyEventV2, context: Context): string {
  return event.requestContext?.requestId ?? context.awsRequestId;
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
        const requestId = requestIdOf(request.event, request.context);
        logger.addContext(request.context);
        logger.setCorrelationId(requestId);
        request.internal.startedAt = performance.now();
      },
      after: (request) => logRequest(request.event, request.response?.statusCode, request.internal.startedAt),
      onError: (request) => {
        const requestId = requestIdOf(request.event, request.context);
        const problem = toProblem(request.error, requestId);
        if (problem.statusCode === 500) logger.error('Unhandled error', { error: request.error as Error });
        request.response = withRequestId(problem, requestId);
        logRequest(request.event, problem.statusCode, request.internal.startedAt);
      },
    })
    .use({
      // Before the body is parsed: an anonymous caller learns nothing about the body's checks.
      before: async (request) => {
        const user = await authenticate(route.auth, request.event, db);
        if (user) callers.set(request.context, user);
      },
    })
    .use(bodyParser(route))
    .handler(async (event, context) => {
      const requestId = requestIdOf(event, context);
      const input = validateInput(route, {
        params: event.pathParameters,
        query: event.queryStringParameters,
        body: event.body,
      });
      const result = await handle({
        ...input,
        user: callers.get(context),
        db: await db(),
        event,
        requestId,
      } as HttpRequest<R>);
      return withRequestId(toResult(route, result), requestId);
    });
  return lambda as HttpLambda;
}

function withRequestId(
  result: APIGatewayProxyStructuredResultV2,
  requestId: string,
): APIGatewayProxyStructuredResultV2 {
  return { ...result, headers: { ...result.headers, 'x-request-id': requestId } };
}

function logRequest(event: APIGatewayProxyEventV2, status: number | undefined, startedAt: unknown): void {
  logger.info('request', {
    method: event.requestContext?.http?.method,
    path: event.rawPath,
    status,
    duration_ms: typeof startedAt === 'number' ? Math.round(performance.now() - startedAt) : undefined,
  });
}

/** Shapes a handler's result into the route's response, checked against its schema. */
function toResult<R extends Route>(route: R, result: HttpResult<R>): APIGatewayProxyStructuredResultV2 {
  if (result instanceof RawResponse) return result.toResult();
  const { status, schema } = route.response;
  if (!schema || status === 204) return { statusCode: status };
  // A response that fails its own schema is a bug on our side: it throws, and becomes a 500.
  const body = schema.parse(result);
  return { statusCode: status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}
