import type { z } from 'zod';
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

/**
 * Validates path, query and body against the route's schemas, reporting every failing field
 * at once (422 with `errors[]`). Parts without a schema come through as `{}` / undefined.
 */
export function validateInput(
  route: Route,
  raw: { params: unknown; query: unknown; body: unknown },
): ValidInput {
  const errors: FieldError[] = [];
  const check = (location: FieldError['location'], schema: z.ZodType | undefined, value: unknown) => {
    if (!schema) return location === 'body' ? undefined : {};
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    errors.push(...issuesOf(location, result.error));
    return undefined;
  };
  const input = {
    params: check('path', route.params, raw.params ?? {}),
    query: check('query', route.query, raw.query ?? {}),
    body: check('body', route.body, raw.body),
  };
  if (errors.length > 0) throw new ValidationError(errors);
  return input;
}
