import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { variantsOf } from '#lib/http/compat.ts';
import type { Route } from '#lib/http/route.ts';

/**
 * A route's path (its own, or one of the reference-client profile's: see variantsOf) compiled
 * to a matcher, most specific first (as API Gateway picks).
 */
export type CompiledRoute = {
  route: Route;
  /** The method and path matched: the event's route key. */
  key: { method: string; path: string };
  pattern: RegExp;
  params: string[];
  staticSegments: number;
};

/**
 * The routes by their number of path segments: a parameter matches exactly one segment, so a
 * path is only tried against routes of its own length (a scan of all of them, a regular
 * expression each, cost more than the rest of the matching in `npm run bench`).
 */
export type CompiledRoutes = Map<number, CompiledRoute[]>;

/** The number of segments of a path, a trailing slash ignored: `/api/v1/users/me/` has 4. */
function segmentCount(path: string): number {
  let count = 0;
  for (let i = 0; i < path.length; i++) {
    if (path.charCodeAt(i) === 47 /* / */ && i + 1 < path.length && path.charCodeAt(i + 1) !== 47) count++;
  }
  return count;
}

export function compileRoutes(routes: Route[]): CompiledRoutes {
  const compiled = routes
    .flatMap((route) => variantsOf(route).map((variant) => ({ route, key: variant })))
    .map(({ route, key }) => {
      const params: string[] = [];
      const segments = key.path.split('/').filter(Boolean);
      const source = segments
        .map((segment) => {
          const param = /^\{(\w+)\}$/.exec(segment);
          if (!param) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
          params.push(param[1]!);
          return '([^/]+)';
        })
        .join('/');
      return {
        route,
        key: { method: key.method, path: key.path },
        pattern: new RegExp(`^/${source}/?$`),
        params,
        staticSegments: segments.length - params.length,
      };
    })
    .sort((a, b) => b.staticSegments - a.staticSegments);
  const bySegments: CompiledRoutes = new Map();
  for (const candidate of compiled) {
    const count = segmentCount(candidate.key.path);
    bySegments.set(count, [...(bySegments.get(count) ?? []), candidate]);
  }
  return bySegments;
}

export type Match =
  | { route: Route; key: CompiledRoute['key']; pathParameters: Record<string, string> }
  | { methodNotAllowed: string[] }
  | { malformedPath: string }
  | undefined;

/**
 * Finds the route for a method (HEAD: the GET route) and path: a match, the allowed methods of the path, a path
 * parameter whose percent-encoding cannot be decoded (`%zz`, a truncated or invalid UTF-8
 * sequence), or nothing.
 */
export function matchRoute(compiled: CompiledRoutes, method: string, path: string): Match {
  const allowed: string[] = [];
  // HEAD runs the GET route (the server then drops the body), as API Gateway does.
  const wanted = method === 'HEAD' ? 'GET' : method;
  for (const candidate of compiled.get(segmentCount(path)) ?? []) {
    const found = candidate.pattern.exec(path);
    if (!found) continue;
    if (candidate.key.method !== wanted) {
      allowed.push(candidate.key.method);
      if (candidate.key.method === 'GET') allowed.push('HEAD');
      continue;
    }
    const pathParameters: Record<string, string> = {};
    for (const [i, name] of candidate.params.entries()) {
      try {
        pathParameters[name] = decodeURIComponent(found[i + 1]!);
      } catch {
        return { malformedPath: name };
      }
    }
    return { route: candidate.route, key: candidate.key, pathParameters };
  }
  return allowed.length > 0 ? { methodNotAllowed: allowed } : undefined;
}

const TEXT_TYPES = /^(text\/|application\/(?:[a-z0-9.+-]+\+)?(?:json|xml|x-www-form-urlencoded|javascript))/i;

/**
 * Builds the API Gateway HTTP API (payload format 2.0) event that AWS would hand the route's
 * Lambda: lower-cased headers with repeats joined by commas, cookies apart, decoded path
 * parameters, and a body that is base64 unless it is text.
 */
export function toApiGatewayEvent(
  req: IncomingMessage,
  url: URL,
  match: { route: Route; key: CompiledRoute['key']; pathParameters: Record<string, string> },
  body: Buffer,
): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const name in req.headers) {
    const value = req.headers[name];
    if (value === undefined || name === 'cookie') continue;
    headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const query: Record<string, string> = {};
  // Reading searchParams builds them: only where there is a query.
  if (url.search) {
    for (const [key, value] of url.searchParams) query[key] = key in query ? `${query[key]},${value}` : value;
  }
  const contentType = headers['content-type'] ?? '';
  const isText = body.length === 0 || TEXT_TYPES.test(contentType);
  const now = new Date();
  const routeKey = `${match.key.method} ${match.key.path}`;
  const cookies = req.headers.cookie?.split(';').map((c) => c.trim());
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    ...(cookies && { cookies }),
    headers,
    ...(Object.keys(query).length > 0 && { queryStringParameters: query }),
    ...(Object.keys(match.pathParameters).length > 0 && { pathParameters: match.pathParameters }),
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: match.key.method,
        path: url.pathname,
        protocol: `HTTP/${req.httpVersion}`,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(body.length > 0 && { body: isText ? body.toString('utf8') : body.toString('base64') }),
    isBase64Encoded: !isText,
  };
}

const nothing = () => undefined;

/** A Lambda context for one local invocation. */
export function lambdaContext(functionName: string, timeoutMs = 29_000): Context {
  const deadline = Date.now() + timeoutMs;
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    // Shared: the deprecated callbacks do nothing here, and a closure each costs every request.
    done: nothing,
    fail: nothing,
    succeed: nothing,
  };
}
