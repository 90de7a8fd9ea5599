import * as z from 'zod';

/** A UUID in a path or body (the example keeps Swagger UI from inventing one per field). */
export const Id = z.uuid().meta({ example: '01938a6e-1c2d-7a00-8a11-000000000001' });

/** A timestamp as it leaves the API: ISO-8601, UTC. */
export const Timestamp = z.iso.datetime({ offset: true }).meta({ example: '2026-12-02T09:30:00.000Z' });

/**
 * `{ data, count, next_cursor }`, the list envelope of every collection endpoint: `count` is
 * the total of the filtered collection, `next_cursor` is null on the last page.
 */
export function listOf<T extends z.ZodType>(item: T) {
  return z.object({
    data: z.array(item),
    count: z.number().int().min(0),
    next_cursor: z.string().nullable(),
  });
}

/** Keyset cursors are opaque to clients: the base64url of the last row's (time-ordered) id. */
export function encodeCursor(lastId: string): string {
  return Buffer.from(lastId).toString('base64url');
}

const Cursor = z
  .string()
  .transform((c) => Buffer.from(c, 'base64url').toString())
  .pipe(z.uuid({ message: 'Invalid cursor' }));

/** Paging of list endpoints: `limit` and the `cursor` a previous page returned. */
export const Paging = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: Cursor.optional().meta({ description: 'The next_cursor of the previous page' }),
});
export type Paging = z.output<typeof Paging>;

export const Message = z.object({ message: z.string() }).meta({ id: 'Message' });

/** RFC 9457 problem details, the body of every error response. */
export const Problem = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    request_id: z.string().optional(),
    errors: z.array(z.object({ location: z.string(), path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem' });
