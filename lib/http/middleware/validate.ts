import * as z from 'zod';
import { type FieldError, ValidationError } from '../errors.ts';
import type { Route } from '../route.ts';

export type ValidInput = { params: unknown; query: unknown; body: unknown };

function issuesOf(location: FieldError['location'], error: z.ZodError): FieldError[] {
  return error.issues.map((issue) => ({
    location,
    path: issue.path.map(String).join('.'),
    message: issue.message,
  }));
}

/** Beyond this many, one more message about bad text tells the client nothing new. */
const MAX_TEXT_ERRORS = 20;

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Why a string cannot be stored as text, or undefined when it can. */
function textProblem(text: string): string | undefined {
  if (text.includes('\u0000')) return 'Text must not contain NUL (\\u0000) characters';
  if (LONE_SURROGATE.test(text)) return 'Text must be valid Unicode: it contains a lone surrogate';
  return undefined;
}

/**
 * Finds every string (and object key) in a parsed input that Postgres cannot store: `text`
 * and `jsonb` refuse NUL, and `jsonb` refuses the `\ud800` escapes of lone surrogates. Checked
 * once here for every route, before any schema, so no field anywhere can carry them to the
 * database. Iterative, so a deeply nested body cannot overflow the stack.
 */
export function unstorableText(location: FieldError['location'], value: unknown): FieldError[] {
  const errors: FieldError[] = [];
  const stack: { value: unknown; path: string[] }[] = [{ value, path: [] }];
  while (stack.length > 0 && errors.length < MAX_TEXT_ERRORS) {
    const { value: current, path } = stack.pop()!;
    if (typeof current === 'string') {
      const message = textProblem(current);
      if (message) errors.push({ location, path: path.join('.'), message });
    } else if (current !== null && typeof current === 'object') {
      for (const [key, child] of Object.entries(current)) {
        const message = textProblem(key);
        if (message) errors.push({ location, path: [...path, key].join('.'), message: `Key: ${message}` });
        stack.push({ value: child, path: [...path, key] });
      }
    }
  }
  return errors;
}

/**
 * The query parameters a route takes: the keys of its query schema (an object, possibly
 * refined or piped). A route without one takes none.
 */
export function queryKeys(schema: z.ZodType | undefined): string[] {
  let current = schema;
  while (current instanceof z.ZodPipe) current = current.in as z.ZodType;
  if (current === undefined) return [];
  if (current instanceof z.ZodObject) return Object.keys(current.shape);
  throw new Error('A route’s query schema must be an object');
}

/**
 * A 422 issue for each query parameter the route does not take: ignored, a misspelt or foreign
 * filter (`datarecord_ids` where `record_id` is meant) would answer everything unfiltered.
 */
export function unknownQueryParameters(route: Route, query: unknown): FieldError[] {
  if (query === null || typeof query !== 'object') return [];
  const keys = Object.keys(query);
  if (keys.length === 0) return [];
  const known = queryKeys(route.query);
  const takes = known.length > 0 ? `this operation takes ${known.join(', ')}` : 'this operation takes none';
  return keys
    .filter((key) => !known.includes(key))
    .map((key) => ({ location: 'query', path: key, message: `Unknown query parameter (${takes})` }));
}

/**
 * Validates path, query and body against the route's schemas, reporting every failing field
 * at once (422 with `errors[]`). Parts without a schema come through as `{}` / undefined.
 * Text that cannot be stored (NUL, lone surrogates) is refused in any field of any part, and
 * a query parameter the route does not take is refused by name.
 */
export function validateInput(
  route: Route,
  raw: { params: unknown; query: unknown; body: unknown },
): ValidInput {
  const errors: FieldError[] = unknownQueryParameters(route, raw.query);
  const input = {
    params: checkPart(errors, 'path', route.params, raw.params ?? {}),
    query: checkPart(errors, 'query', route.query, raw.query ?? {}),
    body: checkPart(errors, 'body', route.body, raw.body),
  };
  if (errors.length > 0) throw new ValidationError(errors);
  return input;
}

/** One part of the input checked against its schema, its problems added to `errors`. */
function checkPart(
  errors: FieldError[],
  location: FieldError['location'],
  schema: z.ZodType | undefined,
  value: unknown,
): unknown {
  if (!schema) return location === 'body' ? undefined : {};
  const unstorable = unstorableText(location, value);
  if (unstorable.length > 0) {
    errors.push(...unstorable);
    return undefined;
  }
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  errors.push(...issuesOf(location, result.error));
  return undefined;
}
