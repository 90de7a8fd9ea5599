import type { z } from 'zod';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * Who may call a route: anyone, any active user, or superusers only. `optional`: anyone, but a
 * bearer token, when sent, must be valid (else 401) and names the caller (share links).
 */
export type AuthLevel = 'public' | 'optional' | 'user' | 'superuser';

/** Media types a route accepts for its body. */
export type BodyType = 'json' | 'form' | 'multipart';

/** The media type of each body type. */
export const MEDIA_TYPES: Record<BodyType, string> = {
  json: 'application/json',
  form: 'application/x-www-form-urlencoded',
  multipart: 'multipart/form-data',
};

/**
 * One HTTP route: the contract that the local runtime, the CDK app and the OpenAPI document
 * all read. It names its handler (`file.export` under functions/http) instead of importing
 * it, so reading the table never loads handler code.
 */
export interface Route<
  P extends z.ZodType = z.ZodType,
  Q extends z.ZodType = z.ZodType,
  B extends z.ZodType = z.ZodType,
  R extends z.ZodType = z.ZodType,
> {
  /** `file.export`: functions/http/<file>.ts exports <export>. Also the route's unique id. */
  handler: string;
  method: HttpMethod;
  /** API Gateway path syntax: /api/v1/users/{user_id} */
  path: string;
  auth: AuthLevel;
  summary: string;
  tags: string[];
  params?: P;
  query?: Q;
  body?: B;
  /** Accepted body media types, JSON only unless stated. */
  bodyTypes?: BodyType[];
  /** Success status and body; no schema means an empty body (204) or a raw response. */
  response: {
    status: number;
    schema?: R;
    description?: string;
    /** Media types of a raw (not JSON-schema) success body, e.g. an export's formats. */
    contentType?: string | string[];
    /** Answers a handler builds itself besides the success (a redirect, a 202 beside a 201). */
    alternatives?: AlternativeResponse[];
  };
  /** False for routes that never touch the database (docs): they then work without one. */
  usesDatabase?: boolean;
  /** Error statuses worth listing in the API docs, beyond 401/422/500 which apply broadly. */
  errors?: number[];
  /** False for routes that serve the docs themselves (the page, its assets, the document): not API operations. */
  documented?: boolean;
  /** Served to the reference system's client under /compat too, and how (lib/http/compat.ts). */
  compat?: CompatSpec;
}

/** Another success answer of a route, listed in the API document beside its main one. */
export interface AlternativeResponse {
  status: number;
  description: string;
  /** A JSON body's schema. */
  schema?: z.ZodType;
  /** A redirect: the answer's `Location` header is where to go. */
  redirect?: boolean;
  /** Not a redirect, but a `Location` header says where to look next (a 202's resource to poll). */
  location?: boolean;
}

/** Declares a route with its types inferred (a typed identity). */
export function route<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType, R extends z.ZodType>(
  spec: Route<P, Q, B, R>,
): Route<P, Q, B, R> {
  return spec;
}

// The reference-client profile's declarations (lib/http/compat.ts serves them).

/** A request's raw parts before validation, as API Gateway hands them over. */
export type RawInput = {
  params: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
  body: unknown;
};

/** How the profile serves a route (or an alias of it). */
export interface CompatShape {
  /** Answer the page's items as a bare JSON array (five of the reference's lists). */
  array?: boolean;
  /** The reference answers this list whole (it sends no `limit`): the default limit is the profile's largest. */
  unpaged?: boolean;
  /** Reshapes the validated answer for the reference's client (a status it does not know, say). */
  output?: (body: unknown) => unknown;
}

/** A reference path onto a route's handler, with how its request maps onto the route's. */
export interface CompatAlias extends CompatShape {
  /** Default: the route's method. */
  method?: HttpMethod;
  /** The reference's path (under `/api/…`), served under `/compat` (lib/http/compat.ts). */
  path: string;
  /** Moves what the reference sends in the path (or elsewhere) to where the route takes it. */
  input?: (raw: RawInput) => RawInput;
  /**
   * An operation of the reference that docsift cannot serve (a format it does not produce, a
   * capability it lacks): answered with this problem before the body is read. The alias sits
   * on the route closest to what the reference meant, whose use the detail should name.
   */
  refuse?: CompatRefusal;
}

/** A problem answer for a reference operation outside docsift (a 4xx, listed in the README). */
export interface CompatRefusal {
  status: 404 | 405 | 406 | 409;
  detail: string;
  /** 405: the methods the path does take. */
  allow?: HttpMethod[];
}

/** A route's place in the profile: at its own path (unless `own: false`) and at its aliases. */
export interface CompatSpec extends CompatShape {
  own?: boolean;
  aliases?: CompatAlias[];
}
