import { encodeCursor } from '#lib/http/schemas/common.ts';

/**
 * Turns `limit + 1` rows, ordered by their time-ordered id, into a page and the cursor of the
 * next one. Fetching one extra row tells whether there is a next page without a second query.
 */
export function toPage<T extends { id: string }>(
  rows: T[],
  limit: number,
): { data: T[]; next_cursor: string | null } {
  const data = rows.slice(0, limit);
  return { data, next_cursor: rows.length > limit ? encodeCursor(data.at(-1)!.id) : null };
}
