import { sql } from 'kysely';
import { callSchema, callSystem, planCalls, recordPrompt, type SchemeField } from '#lib/classify/index.ts';
import { batchPrice, costOf, type PriceTable, priceOf } from '#lib/classify/prices.ts';
import { tokenCounter } from '#lib/classify/tokens.ts';
import type { Db } from '#lib/db/database.ts';
import type { User } from '#lib/db/schema.ts';
import { ValidationError } from '#lib/errors.ts';
import { requireWorkspace } from './access.ts';
import { checkIds, type JobInput } from './jobs.ts';

export type JobEstimate = {
  items: number;
  records: number;
  estimated_input_tokens: number;
  estimated_output_tokens: number;
  /** Null when the model has no configured price. */
  estimated_cost_usd: number | null;
  tokenizer: 'o200k_base' | 'chars/4';
};

/** Records whose prompts are built and counted; the rest are assumed alike. */
const SAMPLE_RECORDS = 20;
/** Chat framing per message (role, separators), as OpenAI counts it. */
const MESSAGE_OVERHEAD = 4;
/** The answer's JSON around the values: braces, keys of `values` and `justifications`. */
const ANSWER_BASE = 10;
/** One field's key and a short value. */
const FIELD_TOKENS = 15;
/** A field's reasoning sentence or two and a couple of quotes. */
const JUSTIFICATION_TOKENS = 80;

/**
 * What a job would cost, without creating it: its items counted in SQL (target records, capped
 * by `max_records`, × schemes), input tokens from the real prompts of a sample of the records
 * (the first {@link SAMPLE_RECORDS} by id) scaled to all, output tokens from the schemes' shape
 * (a heuristic: answers are short and their length hardly depends on the record). The calls are
 * the worker's: a record's schemes together where `combine_schemes` lets them share a call.
 * Repairs and retries are not foreseen, nor prompt caching's discount: one clean call each. A
 * batch job's cost is at the batch price.
 */
export async function estimateJob(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  input: JobInput,
  prices: PriceTable,
): Promise<JobEstimate> {
  await requireWorkspace(db, user, workspaceId);
  await checkIds(db, workspaceId, 'classification_schemes', input.scheme_ids, 'scheme_ids');
  await checkIds(db, workspaceId, 'datasources', input.datasource_ids ?? [], 'datasource_ids');
  await checkIds(db, workspaceId, 'records', input.record_ids ?? [], 'record_ids');
  const datasourceIds = input.datasource_ids ?? [];
  const recordIds = input.record_ids ?? [];
  const { record_id_after: after, record_id_until: until, max_records: cap } = input.options;
  const target = db
    .selectFrom('records')
    .where('workspace_id', '=', workspaceId)
    .$if(datasourceIds.length > 0 || recordIds.length > 0, (q) =>
      q.where((eb) =>
        eb.or([
          ...(datasourceIds.length > 0 ? [sql<boolean>`datasource_id = any(${datasourceIds}::uuid[])`] : []),
          ...(recordIds.length > 0 ? [sql<boolean>`id = any(${recordIds}::uuid[])`] : []),
        ]),
      ),
    )
    .$if(after !== undefined, (q) => q.where('id', '>', after!))
    .$if(until !== undefined, (q) => q.where('id', '<=', until!));
  const { n } = await target.select(sql<number>`count(*)::int`.as('n')).executeTakeFirstOrThrow();
  const records = cap === undefined ? n : Math.min(n, cap);
  const schemes = await db
    .selectFrom('classification_schemes')
    .selectAll()
    .where(sql<boolean>`id = any(${input.scheme_ids}::uuid[])`)
    .execute();
  const sample = await target
    .select(['title', 'text_content'])
    .orderBy('id')
    .limit(Math.min(SAMPLE_RECORDS, records))
    .execute();
  const counter = await tokenCounter(input.provider, input.model);
  // The calls the worker makes for each record: its schemes (in the job's order) together where
  // they fit, or one by one. Their system prompts and schemas are the same for every record.
  const ordered = input.scheme_ids.flatMap((id) =>
    schemes.filter((s) => s.id === id).map((s) => ({ ...s, fields: s.fields as SchemeField[] })),
  );
  const calls = planCalls(ordered, input.options.combine_schemes !== false);
  // Per record: each call's system prompt and schema (the schema goes out with every call, as
  // response_format or the tool's input schema) and the record's message.
  const perRecordFixed = calls.reduce(
    (n, call) =>
      n +
      counter.count(callSystem(call)) +
      counter.count(JSON.stringify(callSchema(call))) +
      2 * MESSAGE_OVERHEAD,
    0,
  );
  let sampled = 0;
  for (const record of sample)
    sampled += calls.length * counter.count(recordPrompt(record.text_content, record.title));
  const inputTokens =
    sample.length > 0 ? Math.round((perRecordFixed + sampled / sample.length) * records) : 0;
  const answerTokens = ordered.reduce(
    (t, s) =>
      t +
      ANSWER_BASE +
      s.fields.reduce((u, f) => u + FIELD_TOKENS + (f.request_justification ? JUSTIFICATION_TOKENS : 0), 0),
    0,
  );
  const outputTokens = answerTokens * records;
  // A batch job is billed at the batch price (lib/classify/prices.ts).
  const online = priceOf(prices, input.provider, input.model);
  const price = input.mode === 'batch' ? batchPrice(online) : online;
  return {
    items: records * schemes.length,
    records,
    estimated_input_tokens: inputTokens,
    estimated_output_tokens: outputTokens,
    estimated_cost_usd: costOf(price, {
      inputTokens,
      cachedInputTokens: 0,
      outputTokens,
    }),
    tokenizer: counter.method,
  };
}

/**
 * A batch job's budget must hold its estimate before anything is sent: a provider batch runs to
 * its end once submitted, so the worker could not stop it at the budget as it stops online calls.
 * A 422 naming the budget and the estimate otherwise (a cost budget also needs a priced model).
 *
 * @example await requireBatchBudget(db, user, workspaceId, { ...input, mode: 'batch' }, priceTable())
 */
export async function requireBatchBudget(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  input: JobInput,
  prices: PriceTable,
): Promise<void> {
  const { max_cost_usd: maxCost, max_tokens: maxTokens } = input.options;
  if (maxCost === undefined && maxTokens === undefined) return;
  const estimate = await estimateJob(db, user, workspaceId, { ...input, mode: 'batch' }, prices);
  const tokens = estimate.estimated_input_tokens + estimate.estimated_output_tokens;
  const refuse = (path: string, message: string) =>
    new ValidationError([
      {
        location: 'body',
        path,
        message: `A batch cannot stop half-way, so its estimate must fit: ${message}`,
      },
    ]);
  if (maxTokens !== undefined && tokens > maxTokens)
    throw refuse('options.max_tokens', `about ${tokens} tokens, over max_tokens ${maxTokens}`);
  const cost = estimate.estimated_cost_usd;
  if (maxCost !== undefined && cost !== null && cost > maxCost)
    throw refuse(
      'options.max_cost_usd',
      `about $${cost.toFixed(6)} at the batch price, over max_cost_usd ${maxCost}`,
    );
}
