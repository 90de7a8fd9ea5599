import { ConflictError, HttpError, ValidationError } from './errors.ts';
import type { CompatRefusal, HttpMethod, RawInput, Route } from './route.ts';

export type { CompatAlias, CompatRefusal, CompatShape, CompatSpec, RawInput } from './route.ts';

/**
 * The reference-client profile: open-politics-hq's generated client, pointed at
 * `<docsift>/compat` instead of its own backend, works unchanged. The profile serves chosen
 * routes of the one route table a second time under this prefix, with the reference's shapes
 * where they truly conflict with docsift's (a bare array instead of `{data, count,
 * next_cursor}`, `skip` paging, limits over 1,000) and its paths where they differ (aliases).
 * The handlers are the same: this is response shaping and parameter translation only.
 */
export const COMPAT_PREFIX = '/compat';

/** The largest `limit` the profile takes (the reference's UI asks for up to 5,000). */
export const COMPAT_MAX_LIMIT = 10_000;

/** The `limit` of a list called without one: the reference's default. */
export const COMPAT_DEFAULT_LIMIT = 100;

/**
 * JSON a profile list answers at most (Lambda answers 6 MB): past it the list stops early and
 * `x-docsift-next-skip` says where to continue.
 */
export const COMPAT_MAX_BYTES = 5 * 1024 * 1024;

/** One (method, path) that reaches a route's handler, and how the request and answer are shaped there. */
export type Variant = {
  method: HttpMethod;
  path: string;
  compat: boolean;
  array: boolean;
  /** Skip paging's default limit is the profile's largest (a list the reference answers whole). */
  unpaged?: boolean | undefined;
  input?: ((raw: RawInput) => RawInput) | undefined;
  output?: ((body: unknown) => unknown) | undefined;
  refuse?: CompatRefusal | undefined;
};

/** Every (method, path) of a route: its own, then the profile's. Read by the local runtime, CDK and the handler kit. */
export function variantsOf(route: Route): Variant[] {
  const own: Variant = { method: route.method, path: route.path, compat: false, array: false };
  const spec = route.compat;
  if (!spec) return [own];
  const variants = [own];
  if (spec.own !== false) {
    variants.push({
      method: route.method,
      path: COMPAT_PREFIX + route.path,
      compat: true,
      array: spec.array ?? false,
      unpaged: spec.unpaged,
      output: spec.output,
    });
  }
  for (const alias of spec.aliases ?? []) {
    variants.push({
      method: alias.method ?? route.method,
      path: COMPAT_PREFIX + alias.path,
      compat: true,
      array: alias.array ?? false,
      unpaged: alias.unpaged ?? spec.unpaged,
      input: alias.input,
      output: alias.output ?? spec.output,
      refuse: alias.refuse,
    });
  }
  return variants;
}

const REFUSAL_TITLES = {
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
} as const;

/** The problem a refused reference operation answers (see {@link CompatRefusal}). */
export function refusalError(refusal: CompatRefusal): HttpError {
  return new HttpError(refusal.status, REFUSAL_TITLES[refusal.status], refusal.detail, {
    ...(refusal.allow && { headers: { allow: refusal.allow.join(', ') } }),
  });
}

/** The route key API Gateway puts on the event (`GET /api/v1/users/me`). */
export const routeKeyOf = (v: Pick<Variant, 'method' | 'path'>) => `${v.method} ${v.path}`;

/** An alias's input mapping that moves path parameters into the query (`by_datasource/{id}` → `?datasource_id=`). */
export function pathToQuery(moves: Record<string, string>): (raw: RawInput) => RawInput {
  return ({ params, query, body }) => {
    const kept = { ...params };
    const moved = { ...query };
    for (const [param, key] of Object.entries(moves)) {
      moved[key] = kept[param];
      delete kept[param];
    }
    return { params: kept, query: moved, body };
  };
}

/** A JSON object as the profile's mappings take and give it. */
export type Json = Record<string, unknown>;

/** An alias's input mapping of a JSON object body; any other body goes on to the route's own validation. */
export function mapBody(reshape: (body: Json) => Json): (raw: RawInput) => RawInput {
  return (raw) => {
    const { body } = raw;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return raw;
    return { ...raw, body: reshape(body as Json) };
  };
}

/**
 * An alias's input mapping that takes out boolean query parameters the reference sends for
 * something docsift's answer always holds (a job's counts, an import's text): `true` or
 * `false` are accepted, anything else is a 422.
 */
export function acceptFlags(...names: string[]): (raw: RawInput) => RawInput {
  return (raw) => {
    const query = { ...raw.query };
    for (const name of names) {
      const value = query[name];
      if (value !== undefined && value !== 'true' && value !== 'false')
        throw new ValidationError([{ location: 'query', path: name, message: 'true or false' }]);
      delete query[name];
    }
    return { ...raw, query };
  };
}

/** An output reshaping applied to each item of a list answer, or to a single answer. */
export function eachItem(reshape: (item: Record<string, unknown>) => Record<string, unknown>) {
  return (body: unknown): unknown => {
    const page = body as { data?: unknown };
    if (page && typeof page === 'object' && Array.isArray(page.data))
      return { ...page, data: page.data.map((i) => reshape(i as Record<string, unknown>)) };
    return reshape(body as Record<string, unknown>);
  };
}

/**
 * A datasource as the reference reads it: `awaiting_upload` is docsift's own status (a file
 * not yet sent); the reference knows `pending`, which its client polls.
 */
export const referenceDatasource = eachItem((d) =>
  d.status === 'awaiting_upload' ? { ...d, status: 'pending' } : d,
);

/** A URL list's URLs, as `GET …/datasources/{id}/urls` answers them (another type of source has none: 409). */
export function referenceUrls(body: unknown): unknown {
  const d = body as { id: string; type: string; origin_details: { urls?: unknown } };
  if (d.type !== 'url_list')
    throw new ConflictError(`Datasource ${d.id} is a ${d.type} source, not a url_list: it has no URLs`);
  return d.origin_details.urls ?? [];
}
