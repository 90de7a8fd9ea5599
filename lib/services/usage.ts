import { sql } from 'kysely';
import type { Db } from '#lib/db/database.ts';
import type { User } from '#lib/db/schema.ts';
import { requireWorkspace } from './access.ts';

/**
 * The sums of a group of billed calls, as `llm_usage` rows add up. One unpriced call makes the
 * cost unknown: null, not a partial sum passed off as the cost.
 */
export const USAGE_SUMS = [
  sql<number>`count(*)::int`.as('calls'),
  sql<number>`sum(input_tokens)::float8`.as('input_tokens'),
  sql<number>`sum(cached_input_tokens)::float8`.as('cached_input_tokens'),
  sql<number>`sum(output_tokens)::float8`.as('output_tokens'),
  sql<number | null>`CASE WHEN bool_and(cost_usd IS NOT NULL) THEN sum(cost_usd)::float8 END`.as('cost_usd'),
];

export type UsageSums = {
  calls: number;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  cost_usd: number | null;
};

export type UsageRow = UsageSums & { day: string; provider: string; model: string };

const DAY_MS = 86_400_000;

/**
 * A workspace's provider calls in [from, to), summed per UTC day, provider and model, with the
 * total. Deleted jobs' calls count: they were paid for. A group with an unpriced call has a null
 * cost, and so has the total then.
 *
 * @example workspaceUsage(db, user, wsId, { from: new Date('2026-12-01') })
 */
export async function workspaceUsage(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  range: { from?: Date | undefined; to?: Date | undefined },
) {
  await requireWorkspace(db, user, workspaceId);
  const to = range.to ?? new Date();
  const from = range.from ?? new Date(to.getTime() - 30 * DAY_MS);
  const rows = await db
    .selectFrom('llm_usage')
    .select([
      sql<string>`to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`.as('day'),
      'provider',
      'model',
      ...USAGE_SUMS,
    ])
    .where('workspace_id', '=', workspaceId)
    .where('at', '>=', from)
    .where('at', '<', to)
    .groupBy([sql`1`, 'provider', 'model'])
    .orderBy(sql`1`)
    .orderBy('provider')
    .orderBy('model')
    .execute();
  const total: UsageSums = {
    calls: 0,
    input_tokens: 0,
    cached_input_tokens: 0,
    output_tokens: 0,
    cost_usd: 0,
  };
  for (const r of rows) {
    total.calls += r.calls;
    total.input_tokens += r.input_tokens;
    total.cached_input_tokens += r.cached_input_tokens;
    total.output_tokens += r.output_tokens;
    total.cost_usd = total.cost_usd === null || r.cost_usd === null ? null : total.cost_usd + r.cost_usd;
  }
  return {
    workspace_id: workspaceId,
    from: from.toISOString(),
    to: to.toISOString(),
    data: rows,
    total,
  };
}
