import type { z } from 'zod';
import type { Route } from '#lib/http/route.ts';
import { API } from '#lib/http/routes/paths.ts';

// The CLI's HTTP client. Request and response types come from the route table itself (the zod
// schemas the server validates with), so a change to a route's contract breaks the CLI's type
// check instead of drifting; see README "A typed client" for why this is not a generated one.

/** Any route of the table with its schema types kept. */
// biome-ignore lint/suspicious/noExplicitAny: the four schema slots are inferred per route.
type AnyRoute = Route<any, any, any, any>;

type Input<S> = S extends z.ZodType ? z.input<S> : never;

/** What a route takes: path parameters, query and body, as the server's schemas accept them. */
export type RequestOf<R extends AnyRoute> = {
  params?: R extends Route<infer P> ? Input<P> : never;
  query?: R extends Route<z.ZodType, infer Q> ? Partial<Input<Q>> : never;
  body?: R extends Route<z.ZodType, z.ZodType, infer B> ? Input<B> : never;
  /** Sent as this media type: JSON unless the route also takes a form. */
  as?: 'json' | 'form';
};

/** What a route answers with on success, as the server's response schema describes it. */
export type ResponseOf<R extends AnyRoute> =
  R extends Route<z.ZodType, z.ZodType, z.ZodType, infer S> ? z.output<S> : never;

/** A failed call: the API's RFC 9457 problem (or a transport failure), for stderr. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly problem?: { detail?: string; errors?: { path?: string; message?: string }[] },
  ) {
    super(message);
  }
}

export type ApiClient = ReturnType<typeof apiClient>;

/**
 * A client for one deployment. `baseUrl` ends in `/api/v1` (the prefix of every route's path),
 * e.g. `http://127.0.0.1:8000/api/v1` or an API Gateway stage URL.
 */
export function apiClient(baseUrl: string, token?: string) {
  const base = baseUrl.replace(/\/+$/, '');

  function urlOf(route: AnyRoute, params: Record<string, unknown> = {}, query: Record<string, unknown> = {}) {
    const path = route.path.slice(API.length).replace(/\{(\w+)\}/g, (_, name: string) => {
      if (params[name] === undefined) throw new Error(`${route.handler}: missing path parameter ${name}`);
      return encodeURIComponent(String(params[name]));
    });
    const url = new URL(base + path);
    for (const [key, value] of Object.entries(query))
      if (value !== undefined) url.searchParams.set(key, String(value));
    return url;
  }

  /** Sends one request; answers the raw response (redirects not followed) for callers that stream. */
  async function send<R extends AnyRoute>(route: R, request: RequestOf<R> = {}): Promise<Response> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (request.body !== undefined) {
      if (request.as === 'form') {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        body = new URLSearchParams(request.body as Record<string, string>).toString();
      } else {
        headers['content-type'] = 'application/json';
        body = JSON.stringify(request.body);
      }
    }
    const url = urlOf(
      route,
      request.params as Record<string, unknown>,
      request.query as Record<string, unknown>,
    );
    let response: Response;
    try {
      response = await fetch(url, { method: route.method, headers, body, redirect: 'manual' });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new ApiError(`Cannot reach ${base} (${cause}); is the API running? Set --api or DOCSIFT_API`, 0);
    }
    if (response.status >= 400) throw await problemOf(response);
    return response;
  }

  return {
    baseUrl: base,
    send,
    /** Calls a route and answers its parsed JSON body (undefined for an empty one). */
    async call<R extends AnyRoute>(route: R, request: RequestOf<R> = {}): Promise<ResponseOf<R>> {
      const response = await send(route, request);
      const text = await response.text();
      return (text ? JSON.parse(text) : undefined) as ResponseOf<R>;
    },
  };
}

async function problemOf(response: Response): Promise<ApiError> {
  const text = await response.text().catch(() => '');
  let problem: ApiError['problem'];
  try {
    problem = JSON.parse(text);
  } catch {
    problem = undefined;
  }
  const fields = (problem?.errors ?? [])
    .map((e) => (e.path ? `${e.path}: ${e.message}` : e.message))
    .filter(Boolean)
    .join('; ');
  const detail = problem?.detail ?? (text.slice(0, 200) || response.statusText);
  return new ApiError(
    `${response.status} ${detail}${fields ? ` (${fields})` : ''}`,
    response.status,
    problem,
  );
}
