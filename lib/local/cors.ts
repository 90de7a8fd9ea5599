import type { IncomingMessage, ServerResponse } from 'node:http';

/** What API Gateway's CORS configuration says; the CDK app sets the same from the same config. */
export const CORS_ALLOW_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
export const CORS_ALLOW_HEADERS = ['authorization', 'content-type', 'x-request-id'];
export const CORS_EXPOSE_HEADERS = ['x-request-id', 'location'];
export const CORS_MAX_AGE_SECONDS = 600;

/**
 * Emulates an HTTP API's CORS handling: preflights are answered without reaching a handler,
 * and allowed origins get their headers on every response, never `allow-credentials` (the API
 * takes bearer tokens, not cookies). Returns true when it answered.
 */
export function applyCors(req: IncomingMessage, res: ServerResponse, allowedOrigins: string[]): boolean {
  const origin = req.headers.origin;
  const allowed = origin !== undefined && (allowedOrigins.includes('*') || allowedOrigins.includes(origin));
  if (allowed) {
    res.setHeader('access-control-allow-origin', allowedOrigins.includes('*') ? '*' : origin);
    res.setHeader('vary', 'origin');
    res.setHeader('access-control-expose-headers', CORS_EXPOSE_HEADERS.join(','));
    // No access-control-allow-credentials: clients send bearer tokens, never cookies.
  }
  if (req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
    if (allowed) {
      res.setHeader('access-control-allow-methods', CORS_ALLOW_METHODS.join(','));
      res.setHeader('access-control-allow-headers', CORS_ALLOW_HEADERS.join(','));
      res.setHeader('access-control-max-age', String(CORS_MAX_AGE_SECONDS));
    }
    res.writeHead(204).end();
    return true;
  }
  return false;
}
