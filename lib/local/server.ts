import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { APIGatewayProxyResultV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type HttpLambda, withStandardHeaders } from '#lib/http/handler.ts';
import { problemResponse } from '#lib/http/problem.ts';
import type { Route } from '#lib/http/route.ts';
import { logger } from '#lib/logger.ts';
import { LOCAL_DOWNLOAD_PATH, LOCAL_UPLOAD_PATH, type LocalObjectStore } from '#lib/ports/objects/local.ts';
import { compileRoutes, lambdaContext, matchRoute, toApiGatewayEvent } from './api-gateway.ts';
import { applyCors } from './cors.ts';
import { handleLocalDownload } from './downloads.ts';
import { handleLocalUpload } from './uploads.ts';

/** Lambda's synchronous payload limit: bigger requests never reach a function in AWS either. */
export const MAX_REQUEST_BYTES = 6 * 1024 * 1024;

/**
 * Lambda's limit on a synchronous response, counted on the result as serialised JSON
 * (headers and a base64 body included). Over it, Lambda fails the invocation ("Response
 * payload size exceeded maximum allowed payload size") and API Gateway answers a bare 500.
 */
export const MAX_RESPONSE_BYTES = 6_291_556;

const handlers = new Map<string, Promise<HttpLambda>>();

/** Loads a route's handler the way Lambda would: its file under functions/http, its export. */
function loadHandler(route: Route): Promise<HttpLambda> {
  let handler = handlers.get(route.handler);
  if (!handler) {
    const [file, name] = route.handler.split('.') as [string, string];
    handler = import(new URL(`../../functions/http/${file}.ts`, import.meta.url).href).then((module) => {
      const fn = module[name] as HttpLambda | undefined;
      if (typeof fn !== 'function') throw new Error(`functions/http/${file}.ts does not export ${name}`);
      return fn;
    });
    handlers.set(route.handler, handler);
  }
  return handler;
}

const NO_BODY = Buffer.alloc(0);

function readBody(req: IncomingMessage): Promise<Buffer | 'too_large'> | Buffer {
  // Neither header: HTTP/1.1 says the request has no body (RFC 9112, 6.3), nothing to wait for.
  if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
    return NO_BODY;
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        resolve('too_large');
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** An answer of the local runtime itself, with the headers and request id a handler's carries. */
async function ownProblem(
  status: number,
  options: { detail?: string; headers?: Record<string, string>; requestId?: string } = {},
): Promise<APIGatewayProxyStructuredResultV2> {
  const requestId = options.requestId ?? randomUUID();
  return withStandardHeaders(problemResponse(status, { ...options, requestId }), requestId);
}

/**
 * Whether a function's result is over Lambda's limit, counted as Lambda does: its JSON
 * serialisation. JSON writes a character as at most 6 bytes (`\u001f`), so a result whose body
 * is far below the limit is not serialised to be counted.
 */
function overResponseLimit(result: APIGatewayProxyResultV2): boolean {
  // A bare value (payload format 2.0 allows one) is always counted.
  const structured = typeof result === 'object' && result !== null && 'statusCode' in result;
  if (structured && (result.body?.length ?? 0) * 6 < MAX_RESPONSE_BYTES / 2) return false;
  return Buffer.byteLength(JSON.stringify(result) ?? '') > MAX_RESPONSE_BYTES;
}

function send(res: ServerResponse, result: APIGatewayProxyResultV2): void {
  // Payload format 2.0 lets a function return a bare value: API Gateway then sends it as JSON.
  if (typeof result !== 'object' || result === null || !('statusCode' in result)) {
    result = {
      statusCode: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(result),
    };
  }
  const headers: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(result.headers ?? {})) {
    // Lambda's JSON serialisation drops undefined values, and so does API Gateway.
    if (v !== undefined && v !== null) headers[k.toLowerCase()] = String(v);
  }
  if (result.cookies?.length) headers['set-cookie'] = result.cookies;
  // Text as it is (node writes the headers and a string body in one piece), base64 decoded.
  const body = result.isBase64Encoded && result.body ? Buffer.from(result.body, 'base64') : result.body;
  // With its length, as API Gateway answers (not chunked); a HEAD answer is the GET's headers without the body.
  if (body || res.req.method === 'HEAD')
    headers['content-length'] = String(body ? Buffer.byteLength(body) : 0);
  res.writeHead(result.statusCode ?? 200, headers).end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * The local stand-in for API Gateway + Lambda: turns each request into an HTTP API v2 event
 * for the route's handler and the handler's result back into a response.
 */
export function createLocalServer(options: {
  routes: Route[];
  corsOrigins: string[];
  /** The local object store, whose presigned uploads this server receives (local platform only). */
  uploads?: () => LocalObjectStore | undefined;
  /** Requests wait for this (the queues and adapters starting after the port is known). */
  ready?: Promise<unknown>;
  /** Where a route's handler comes from: its functions/http file unless a test says otherwise. */
  handlerOf?: (route: Route) => Promise<HttpLambda>;
  /** Routes of the local runtime alone (not in the route table), with their handlers. */
  ownRoutes?: { route: Route; handler: HttpLambda }[];
}): Server {
  const own = new Map((options.ownRoutes ?? []).map((r) => [r.route, r.handler]));
  const fromTable = options.handlerOf ?? loadHandler;
  // Handlers once loaded, so a warm request does not wait on a promise for them.
  const loaded = new Map(own);
  const handlerOf = (route: Route): HttpLambda | Promise<HttpLambda> =>
    loaded.get(route) ??
    fromTable(route).then((handler) => {
      loaded.set(route, handler);
      return handler;
    });
  const compiled = compileRoutes([...options.routes, ...own.keys()]);
  let ready = !options.ready;
  options.ready?.then(
    () => {
      ready = true;
    },
    () => undefined,
  );
  return createServer(async (req, res) => {
    try {
      if (!ready) await options.ready;
      if (applyCors(req, res, options.corsOrigins)) return;
      const url = new URL(req.url ?? '/', 'http://localhost');
      const uploads = options.uploads?.();
      if (uploads && req.method === 'POST' && url.pathname === LOCAL_UPLOAD_PATH) {
        handleLocalUpload(uploads, req, res);
        return;
      }
      if (uploads && req.method === 'GET' && url.pathname === LOCAL_DOWNLOAD_PATH) {
        await handleLocalDownload(uploads, req, res, url.searchParams);
        return;
      }
      const match = matchRoute(compiled, req.method ?? 'GET', url.pathname);
      if (!match) return send(res, await ownProblem(404, { detail: `No route for ${url.pathname}` }));
      if ('methodNotAllowed' in match) {
        return send(res, await ownProblem(405, { headers: { allow: match.methodNotAllowed.join(', ') } }));
      }
      if ('malformedPath' in match) {
        return send(
          res,
          await ownProblem(400, {
            detail: `The path has a malformed percent-encoding (in ${match.malformedPath})`,
          }),
        );
      }
      const read = readBody(req);
      const body = read instanceof Buffer ? read : await read;
      if (body === 'too_large') {
        return send(
          res,
          await ownProblem(413, { detail: `Request bodies are limited to ${MAX_REQUEST_BYTES} bytes` }),
        );
      }
      const event = toApiGatewayEvent(req, url, match, body);
      const loading = handlerOf(match.route);
      const handler = typeof loading === 'function' ? loading : await loading;
      const result = await handler(event, lambdaContext(match.route.handler));
      if (overResponseLimit(result)) {
        // What Lambda and API Gateway do; loud, so a test or a developer sees which route did it.
        logger.error('Local runtime: Response payload size exceeded maximum allowed payload size', {
          route: match.route.handler,
          bytes: Buffer.byteLength(JSON.stringify(result)),
          limit: MAX_RESPONSE_BYTES,
        });
        return send(
          res,
          await ownProblem(500, {
            detail: 'Internal Server Error',
            requestId: event.requestContext.requestId,
          }),
        );
      }
      send(res, result);
    } catch (error) {
      // What API Gateway answers when a function itself fails.
      logger.error('Local runtime: invocation failed', { error: error as Error });
      if (!res.headersSent) send(res, await ownProblem(500, { detail: 'Internal Server Error' }));
      else res.destroy();
    }
  });
}
