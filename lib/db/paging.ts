import { type SelectQueryBuilder, sql } from 'kysely';
import { encodeCursor, type Paging } from '#lib/http/schemas/common.ts';

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

/**
 * One keyset page of a single table's rows (`query` is that table, filtered, nothing selected)
 * with the total of the filtered rows: the list endpoints' `{data, count, next_cursor}`.
 *
 * @example keysetPage<Workspace>(db.selectFrom('workspaces').where('owner_id', '=', id), paging)
 */
export async function keysetPage<Row extends { id: string }>(
  // biome-ignore lint/suspicious/noExplicitAny: any single-table query; Row names its rows
  query: SelectQueryBuilder<any, any, object>,
  paging: Paging,
): Promise<{ data: Row[]; count: number; next_cursor: string | null }> {
  const [rows, total] = await Promise.all([
    query
      .selectAll()
      .$if(paging.cursor !== undefined, (q) => q.where(sql.ref('id'), '>', paging.cursor))
      .orderBy(sql.ref('id'))
      .limit(paging.limit + 1)
      .execute() as Promise<Row[]>,
    query.select(sql<number>`count(*)::int`.as('count')).executeTakeFirstOrThrow() as Promise<{
      count: number;
    }>,
  ]);
  return { ...toPage(rows, paging.limit), count: total.count };
}
