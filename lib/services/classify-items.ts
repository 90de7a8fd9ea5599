import type { Logger } from '@aws-lambda-powertools/logger';
import { sql } from 'kysely';
import pLimit from 'p-limit';
import {
  callSchema,
  callSystem,
  checkAnswer,
  planCalls,
  recordPrompt,
  repairCall,
  type SchemeCall,
  type SchemeField,
  verifyEvidence,
} from '#lib/classify/index.ts';
import { type ClassifyItems, ITEMS_PER_MESSAGE, itemMessages } from '#lib/classify/messages.ts';
import {
  batchPrice,
  costOf,
  type Price,
  type PriceTable,
  priceOf,
  priceTable,
} from '#lib/classify/prices.ts';
import type { Db } from '#lib/db/database.ts';
import type { ClassificationJob, ClassificationScheme } from '#lib/db/schema.ts';
import { jobFinished } from '#lib/events/lifecycle.ts';
import { nudgeDispatch, recordEvents } from '#lib/events/outbox.ts';
import { newId } from '#lib/ids.ts';
import { recordMetric } from '#lib/observability/metrics.ts';
import {
  type BatchAnswer,
  type LlmProvider,
  type LlmRequest,
  type LlmUsage,
  ProviderError,
} from '#lib/ports/llm/provider.ts';
import { MAX_DELAY_SECONDS, type QueueSender } from '#lib/ports/queue/queue.ts';
import { claimItems, type ItemKey, LEASE_SECONDS, releaseLeases, renewLeases } from './item-leases.ts';
import { announceJobFinished, itemCounts } from './job-events.ts';

export type ClassifyDeps = {
  db: Db;
  queue: QueueSender;
  log: Logger;
  /** The provider a job names, or undefined when it is not configured here. */
  provider: (name: string) => LlmProvider | undefined;
  /** Prices for the usage rows; the process's (defaults and LLM_PRICES) when absent. */
  prices?: PriceTable;
  settings: {
    classifyQueue: string;
    /** Where a finished job of a recurring task's run is announced (the run then settles). */
    taskQueue?: string;
    itemsPerMessage?: number;
    cancelPollMs?: number;
    /** Records a planner message takes (CLASSIFY_PLAN_CHUNK_RECORDS). */
    planChunkRecords?: number;
    /** How long a claim on an item lasts without renewal ({@link LEASE_SECONDS}). */
    leaseSeconds?: number;
  };
};

/** Calls a worker makes at once for one message (the provider wrapper caps calls across the process). */
const CALL_CONCURRENCY = 5;
/** How often a worker looks whether its job is still running while its calls are out. */
const CANCEL_POLL_MS = 1000;

type Scheme = ClassificationScheme & { fields: SchemeField[] };
type RecordText = { id: string; title: string | null; text_content: string };
/** One provider conversation: a record and the schemes one call asks for (a repair turn included). */
export type Unit = { record: RecordText; call: SchemeCall<Scheme> };

/**
 * Classifies the items of a message. Each item is claimed first, with a lease (see
 * item-leases.ts): only the delivery holding it calls the model and settles it, so duplicate
 * deliveries make one call per item. Items another delivery holds are sent again for when its
 * lease ends (it settles them, or it died and they are claimable then). A record's claimed items
 * go out together, its schemes in as few calls as the job's `combine_schemes` and the providers'
 * limits allow. False when the job no longer runs (nothing was done).
 */
export async function classifyItems(deps: ClassifyDeps, message: ClassifyItems): Promise<boolean> {
  const job = await deps.db
    .selectFrom('classification_jobs')
    .selectAll()
    .where('id', '=', message.job_id)
    .executeTakeFirst();
  if (job?.status !== 'running') return false;
  const owner = newId();
  const leaseSeconds = deps.settings.leaseSeconds ?? LEASE_SECONDS;
  const { claimed, held } = await claimItems(deps.db, job.id, message.items, owner, leaseSeconds);
  try {
    if (held.length > 0) await sendForLater(deps, job.id, held);
    if (claimed.length > 0) await classifyClaimed(deps, job, claimed, owner, leaseSeconds);
  } finally {
    // What is still pending of ours (a cancel, an error) is free for the next delivery at once.
    if (claimed.length > 0)
      await releaseLeases(deps.db, job.id, owner, claimed).catch((error: Error) =>
        deps.log.warn('Could not release item leases; they run out by themselves', { error }),
      );
  }
  return true;
}

/**
 * Sends items another delivery holds again, delayed until its leases run out: the message in
 * hand is then done (it does not count towards the dead-letter queue), and the copy finds the
 * items settled, or free because their holder died.
 */
async function sendForLater(deps: ClassifyDeps, jobId: string, held: (ItemKey & { seconds_left: number })[]) {
  const wait = Math.max(...held.map((h) => h.seconds_left));
  const delaySeconds = Math.min(MAX_DELAY_SECONDS, Math.max(1, Math.ceil(wait)));
  const size = deps.settings.itemsPerMessage ?? ITEMS_PER_MESSAGE;
  deps.log.info('Items held by another delivery; sent again for when its lease ends', {
    job_id: jobId,
    items: held.length,
    delay_seconds: delaySeconds,
  });
  await deps.queue.send(deps.settings.classifyQueue, itemMessages(jobId, held, size), { delaySeconds });
}

/**
 * The provider conversations for claimed items: each record's schemes (in the job's order, so
 * every record's calls share their system prompt and the provider's prompt cache) in as few
 * calls as `combine_schemes` and the providers' limits allow. An item whose record or scheme is
 * gone is being deleted with it.
 */
export async function unitsFor(db: Db, job: ClassificationJob, items: readonly ItemKey[]): Promise<Unit[]> {
  if (items.length === 0) return [];
  const schemeIds = [...new Set(items.map((i) => i.scheme_id))];
  const recordIds = [...new Set(items.map((i) => i.record_id))];
  const schemes = new Map(
    (await db.selectFrom('classification_schemes').selectAll().where('id', 'in', schemeIds).execute()).map(
      (s) => [s.id, { ...s, fields: s.fields as SchemeField[] }],
    ),
  );
  const records = new Map(
    (
      await db
        .selectFrom('records')
        .select(['id', 'title', 'text_content'])
        .where('id', 'in', recordIds)
        .execute()
    ).map((r) => [r.id, r]),
  );
  const order = (s: Scheme) => job.scheme_ids.indexOf(s.id);
  const combine = (job.options as { combine_schemes?: boolean }).combine_schemes !== false;
  return recordIds.flatMap((recordId) => {
    const record = records.get(recordId);
    if (!record) return [];
    const mine = items
      .filter((i) => i.record_id === recordId)
      .flatMap((i) => schemes.get(i.scheme_id) ?? [])
      .sort((a, b) => order(a) - order(b));
    return planCalls(mine, combine).map((call) => ({ record, call }));
  });
}

/** A unit's name in a batch (`custom_id`): its record and schemes, so its answer finds its items. */
export function unitKey(unit: Unit): string {
  return [unit.record.id, ...unit.call.schemes.map((s) => s.id)].join(':');
}

/** The items a {@link unitKey} names. */
export function unitItems(key: string): ItemKey[] {
  const [record_id, ...schemeIds] = key.split(':');
  return schemeIds.map((scheme_id) => ({ record_id: record_id!, scheme_id }));
}

/**
 * Classifies claimed items. With `batchAnswers` (a provider batch's answers, by {@link unitKey}),
 * a unit answered there starts from that answer, which goes through the same validation and
 * repair turn as an online one; a unit without one is asked online.
 */
export async function classifyClaimed(
  deps: ClassifyDeps,
  job: ClassificationJob,
  claimed: ItemKey[],
  owner: string,
  leaseSeconds: number,
  batchAnswers?: ReadonlyMap<string, BatchAnswer>,
): Promise<void> {
  const units = await unitsFor(deps.db, job, claimed);
  const watch = watchWork(deps, job.id, owner, claimed, leaseSeconds);
  const limit = pLimit(CALL_CONCURRENCY);
  try {
    // Every unit runs to its end before an error propagates: the leases are released only then.
    const ran = await Promise.allSettled(
      units.map((unit) =>
        limit(() =>
          watch.signal.aborted
            ? undefined
            : classifyUnit(deps, job, unit, owner, watch.signal, batchAnswers?.get(unitKey(unit))),
        ),
      ),
    );
    const failed = ran.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    watch.stop();
  }
}

/**
 * While a message's calls are out: aborts `signal` once the job stops running (cancelled,
 * finished, deleted), looking every `cancelPollMs`, so calls in flight for it are cut short; and
 * renews the leases on its items every third of their length.
 */
function watchWork(deps: ClassifyDeps, jobId: string, owner: string, items: ItemKey[], leaseSeconds: number) {
  const controller = new AbortController();
  const poll = setInterval(() => {
    deps.db
      .selectFrom('classification_jobs')
      .select('status')
      .where('id', '=', jobId)
      .executeTakeFirst()
      .then((job) => {
        if (job?.status !== 'running') controller.abort(new Error('The job is no longer running'));
      })
      .catch(() => undefined);
  }, deps.settings.cancelPollMs ?? CANCEL_POLL_MS);
  const renew = setInterval(
    () => {
      renewLeases(deps.db, jobId, owner, items, leaseSeconds).catch((error: Error) =>
        deps.log.warn('Could not renew item leases', { error }),
      );
    },
    (leaseSeconds * 1000) / 3,
  );
  poll.unref();
  renew.unref();
  return {
    signal: controller.signal,
    stop: () => {
      clearInterval(poll);
      clearInterval(renew);
    },
  };
}

/** What the model answered for one scheme of a call. */
type Answer =
  | { ok: true; values: Record<string, unknown>; justifications: Record<string, unknown> }
  | { ok: false; reason: string };

/** A billed call, how many items (schemes of the record) it asked for, and whether a batch made it (its price). */
type CallUsage = LlmUsage & { items: number; batch?: boolean };

/**
 * What became of a call: its billed attempts, and either one answer per scheme (in the call's
 * order) or `cancelled` (the job stopped wanting the items: nothing to record but the usage).
 */
type Outcome = { calls: CallUsage[] } & ({ cancelled: true } | { cancelled?: false; answers: Answer[] });

async function classifyUnit(
  deps: ClassifyDeps,
  job: ClassificationJob,
  unit: Unit,
  owner: string,
  signal: AbortSignal,
  batchAnswer?: BatchAnswer,
): Promise<void> {
  const schemeIds = unit.call.schemes.map((s) => s.id);
  const outcome = await askModel(
    deps,
    job,
    unit,
    { signal, stillWanted: () => callWanted(deps, job, unit.record.id, schemeIds, owner) },
    batchAnswer,
  );
  const prices = deps.prices ?? priceTable();
  await deps.db.transaction().execute(async (trx) => {
    // Paid for whether or not anything is kept below.
    await recordUsage(trx, job, outcome.calls, prices);
    if (outcome.cancelled) return;
    await settleItems(trx, job, unit, owner, outcome.answers);
  });
}

/**
 * Stores a call's answers: each item the owner still holds (pending: not cancelled, not
 * stopped by the budget, not taken over after its lease ran out) succeeds with its result or
 * fails with its reason, and gives up its lease.
 */
async function settleItems(trx: Db, job: ClassificationJob, unit: Unit, owner: string, answers: Answer[]) {
  const mine = (schemeIds: string[]) =>
    trx
      .updateTable('classification_items')
      .where('job_id', '=', job.id)
      .where('record_id', '=', unit.record.id)
      .where('scheme_id', 'in', schemeIds)
      .where('status', '=', 'pending')
      .where('lease_owner', '=', owner);
  const schemes = unit.call.schemes;
  const succeeded = schemes.filter((_, i) => answers[i]!.ok).map((s) => s.id);
  if (succeeded.length > 0) {
    const settled = await mine(succeeded)
      .set({ status: 'succeeded', reason: null, lease_owner: null, lease_expires_at: null })
      .returning('scheme_id')
      .execute();
    if (settled.length > 0)
      await trx
        .insertInto('classification_results')
        .values(
          settled.map(({ scheme_id }) => {
            const answer = answers[schemes.findIndex((s) => s.id === scheme_id)] as Extract<
              Answer,
              { ok: true }
            >;
            return {
              id: newId(),
              workspace_id: job.workspace_id,
              job_id: job.id,
              record_id: unit.record.id,
              scheme_id,
              value: JSON.stringify(answer.values),
              justifications: JSON.stringify(answer.justifications),
              provider: job.provider,
              model: job.model,
            };
          }),
        )
        .onConflict((oc) => oc.columns(['job_id', 'record_id', 'scheme_id']).doNothing())
        .execute();
    recordMetric('ItemsClassified', { provider: job.provider, model: job.model }, settled.length);
  }
  for (const [i, answer] of answers.entries()) {
    if (answer.ok) continue;
    const failed = await mine([schemes[i]!.id])
      .set({ status: 'failed', reason: answer.reason, lease_owner: null, lease_expires_at: null })
      .executeTakeFirst();
    recordMetric('ItemsFailed', { provider: job.provider, model: job.model }, Number(failed.numUpdatedRows));
  }
}

/**
 * True while the owner still holds a pending item of the call, its job runs and the job's budget
 * holds: asked right before each provider attempt. The first worker to find the budget spent
 * stops the job.
 */
async function callWanted(
  deps: ClassifyDeps,
  job: ClassificationJob,
  recordId: string,
  schemeIds: string[],
  owner: string,
) {
  const row = await deps.db
    .selectFrom('classification_jobs as j')
    .select(['j.used_tokens', 'j.used_cost_usd'])
    .where('j.id', '=', job.id)
    .where('j.status', '=', 'running')
    .where(({ exists, selectFrom }) =>
      exists(
        selectFrom('classification_items as i')
          .select('i.job_id')
          .where('i.job_id', '=', job.id)
          .where('i.record_id', '=', recordId)
          .where('i.scheme_id', 'in', schemeIds)
          .where('i.status', '=', 'pending')
          .where('i.lease_owner', '=', owner),
      ),
    )
    .executeTakeFirst();
  if (!row) return false;
  const reason = budgetReached(job, Number(row.used_tokens), Number(row.used_cost_usd));
  if (reason === undefined) return true;
  if ((await stopForBudget(deps.db, job.id, reason)) && deps.settings.taskQueue) {
    await nudgeDispatch(deps.queue, deps.settings.taskQueue);
    await announceJobFinished(deps.db, deps.queue, deps.settings.taskQueue, job.id);
  }
  return false;
}

/** Why the job may make no more calls, or undefined while its budget (if any) holds. */
function budgetReached(job: ClassificationJob, tokens: number, cost: number): string | undefined {
  const { max_tokens: maxTokens, max_cost_usd: maxCost } = job.options as {
    max_tokens?: number;
    max_cost_usd?: number;
  };
  if (maxTokens !== undefined && tokens >= maxTokens)
    return `The job's budget was reached: ${tokens} tokens used of max_tokens ${maxTokens}`;
  if (maxCost !== undefined && cost >= maxCost)
    return `The job's budget was reached: $${cost.toFixed(6)} spent of max_cost_usd ${maxCost}`;
  return undefined;
}

/**
 * Ends a running job as `budget_exceeded`: its pending items fail with the reason (listed with
 * the job's failures), so no worker calls for them, and its `job.budget_exceeded` event is
 * recorded. The job's row first, as a cancel does (a planner chunk then waits).
 * True when this call stopped it.
 */
async function stopForBudget(db: Db, jobId: string, reason: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const stopped = await trx
      .updateTable('classification_jobs')
      .set({ status: 'budget_exceeded', error_message: reason, finished_at: sql<Date>`clock_timestamp()` })
      .where('id', '=', jobId)
      .where('status', '=', 'running')
      .returning(['id', 'workspace_id', 'status', 'error_message', 'provider', 'model'])
      .executeTakeFirst();
    if (!stopped) return false;
    const failed = await trx
      .updateTable('classification_items')
      .set({ status: 'failed', reason })
      .where('job_id', '=', jobId)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    recordMetric(
      'ItemsFailed',
      { provider: stopped.provider, model: stopped.model },
      Number(failed.numUpdatedRows),
    );
    await recordEvents(trx, [jobFinished(stopped, await itemCounts(trx, jobId))]);
    return true;
  });
}

/**
 * The first request of a unit's conversation, the same online and in a batch: instructions and
 * schemes first (the system message, the same for every record of the job), the record last, so
 * a provider's prompt cache serves the prefix.
 */
export function firstRequest(job: ClassificationJob, { record, call }: Unit): LlmRequest {
  const temperature = typeof job.options.temperature === 'number' ? job.options.temperature : undefined;
  return {
    model: job.model,
    system: callSystem(call),
    messages: [{ role: 'user', content: recordPrompt(record.text_content, record.title) }],
    jsonSchema: callSchema(call),
    schemaName: 'classification',
    ...(temperature !== undefined && { temperature }),
  };
}

/**
 * Asks the model for a record's schemes in one conversation, validates the answer scheme by
 * scheme, and gives the schemes whose answer is invalid one repair turn that says what was wrong
 * and asks for them alone. Provider errors that outlived their retries and answers still invalid
 * after the repair are failures with a reason of ours (never the provider's text, which may echo
 * the key; that goes to the log, redacted); anything else throws.
 */
async function askModel(
  deps: ClassifyDeps,
  job: ClassificationJob,
  unit: Unit,
  wanted: { signal: AbortSignal; stillWanted: () => Promise<boolean> },
  batchAnswer?: BatchAnswer,
): Promise<Outcome> {
  const { record, call } = unit;
  const calls: CallUsage[] = [];
  const price = priceOf(deps.prices ?? priceTable(), job.provider, job.model);
  // A batch's answer, or its billed failure: paid at the batch price, and counted towards the budget.
  const batchUsage = batchAnswer?.ok ? batchAnswer.response.usage : batchAnswer?.usage;
  if (batchUsage) {
    calls.push({ ...batchUsage, items: call.schemes.length, batch: true });
    await addToJobCounters(deps.db, job.id, [batchUsage], batchPrice(price));
  }
  const provider = deps.provider(job.provider);
  if (!provider) {
    const reason = `The provider "${job.provider}" is not configured`;
    return { calls, answers: call.schemes.map(() => ({ ok: false, reason })) };
  }
  const first = firstRequest(job, unit);
  const messages = [...first.messages];
  const answers: (Answer | undefined)[] = call.schemes.map(() => undefined);
  // The schemes this turn asks for (all, then those the repair asks again), by index into `call`.
  let asking = call;
  let indexes = call.schemes.map((_, i) => i);
  for (let attempt = 0; attempt < 2; attempt++) {
    let answer: Awaited<ReturnType<LlmProvider['classify']>>;
    try {
      if (attempt === 0 && batchAnswer?.ok) answer = batchAnswer.response;
      else
        answer = await provider.classify({
          ...first,
          messages,
          jsonSchema: callSchema(asking),
          signal: wanted.signal,
          stillWanted: wanted.stillWanted,
          // The budget's counters move as each billed attempt returns, before its concurrency
          // slot is released: the next call's check, this worker's or another's, sees what it spent.
          onUsage: async (usage: LlmUsage) => {
            calls.push({ ...usage, items: indexes.length });
            await addToJobCounters(deps.db, job.id, [usage], price);
          },
        });
    } catch (error) {
      if (!(error instanceof ProviderError)) throw error;
      if (wanted.signal.aborted || !(await wanted.stillWanted())) return { calls, cancelled: true };
      deps.log.warn('Provider call failed', {
        provider: job.provider,
        reason: error.reason,
        status: error.status,
        detail: error.detail,
      });
      for (const i of indexes) answers[i] = { ok: false, reason: error.reason };
      return { calls, answers: answers as Answer[] };
    }
    const results = checkAnswer(asking, answer.output);
    for (const [j, result] of results.entries()) {
      const i = indexes[j]!;
      if (result.ok) answers[i] = { ok: true, ...verified(result.value, record.text_content) };
      // The errors quote the answer: they go back to the model, and only their paths to the user.
      else if (attempt === 1)
        answers[i] = { ok: false, reason: `Invalid answer after one repair at ${result.paths.join(', ')}` };
    }
    if (results.every((r) => r.ok) || attempt === 1) break;
    const repair = repairCall(asking, results);
    indexes = indexes.filter((_, j) => !results[j]!.ok);
    asking = repair.call;
    messages.push({ role: 'assistant', content: answer.raw }, { role: 'user', content: repair.prompt });
  }
  return { calls, answers: answers as Answer[] };
}

/** An answer's values, and its justifications with each quote checked against the record. */
function verified(
  answer: { values: Record<string, unknown>; justifications: Record<string, unknown> },
  text: string,
) {
  const justifications: Record<string, unknown> = {};
  for (const [field, j] of Object.entries(answer.justifications ?? {})) {
    const { reasoning, evidence } = j as { reasoning: string; evidence: string[] };
    justifications[field] = { reasoning, evidence: verifyEvidence(evidence, text) };
  }
  return { values: answer.values, justifications };
}

/**
 * Adds calls to the job's counters, which budgets read: one atomic increment, so concurrent
 * workers never lose each other's spend. Unpriced calls add tokens only.
 */
async function addToJobCounters(db: Db, jobId: string, calls: LlmUsage[], price: Price | undefined) {
  if (calls.length === 0) return;
  const tokens = calls.reduce((n, c) => n + c.inputTokens + c.outputTokens, 0);
  const cost = calls.reduce((n, c) => n + (costOf(price, c) ?? 0), 0);
  await sql`UPDATE classification_jobs
    SET used_tokens = used_tokens + ${tokens}, used_cost_usd = used_cost_usd + ${cost}
    WHERE id = ${jobId}`.execute(db);
}

/**
 * Stores one usage row per billed call, priced now (a later price change does not rewrite what
 * was spent), with the number of items it asked for: a call for three schemes of a record is one
 * row of the job, counted once, never split into guessed shares. The job's counters were moved
 * call by call already ({@link addToJobCounters}).
 */
async function recordUsage(db: Db, job: ClassificationJob, calls: CallUsage[], prices: PriceTable) {
  if (calls.length === 0) return;
  const price = priceOf(prices, job.provider, job.model);
  const rows = calls.map((usage) => ({
    id: newId(),
    workspace_id: job.workspace_id,
    job_id: job.id,
    provider: job.provider,
    model: job.model,
    input_tokens: usage.inputTokens,
    cached_input_tokens: usage.cachedInputTokens,
    output_tokens: usage.outputTokens,
    items: usage.items,
    cost_usd: costOf(usage.batch ? batchPrice(price) : price, usage),
  }));
  await db.insertInto('llm_usage').values(rows).execute();
}
