import type { Logger } from '@aws-lambda-powertools/logger';
import { sql } from 'kysely';
import {
  buildPrompt,
  modelOutputSchema,
  repairPrompt,
  type SchemeField,
  validateModelOutput,
  verifyEvidence,
} from '#lib/classify/index.ts';
import { type ClassifyItems, ClassifyMessage, PLAN_DONE, type PlanJob } from '#lib/classify/messages.ts';
import { costOf, type Price, type PriceTable, priceOf, priceTable } from '#lib/classify/prices.ts';
import type { Db } from '#lib/db/database.ts';
import type { ClassificationJob, ClassificationScheme, JobStatus } from '#lib/db/schema.ts';
import { limitTransaction } from '#lib/db/statement-timeout.ts';
import { jobFinished } from '#lib/events/lifecycle.ts';
import { nudgeDispatch, recordEvents } from '#lib/events/outbox.ts';
import { newId } from '#lib/ids.ts';
import { recordMetric } from '#lib/observability/metrics.ts';
import { type LlmProvider, type LlmUsage, ProviderError } from '#lib/ports/llm/provider.ts';
import type { QueueSender } from '#lib/ports/queue/queue.ts';
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
  };
};

/** Items per classify message: small, so one slow answer holds back little else. */
const ITEMS_PER_MESSAGE = 5;
/** Items a worker classifies at once (the provider wrapper caps calls across the process). */
const ITEM_CONCURRENCY = 5;
/** How often a worker looks whether its job is still running while its calls are out. */
const CANCEL_POLL_MS = 1000;

export class PoisonClassifyMessageError extends Error {
  override name = 'PoisonClassifyMessageError';
}

/**
 * Handles one message of the classify queue. Idempotent: items are classified only while
 * pending, results are unique per (job, record, scheme), and a job is finished by whichever
 * worker sees its last item done.
 */
export async function handleClassifyMessage(deps: ClassifyDeps, body: string): Promise<void> {
  let message: ClassifyMessage;
  try {
    message = ClassifyMessage.parse(JSON.parse(body));
  } catch (cause) {
    throw new PoisonClassifyMessageError('Not a classify message', { cause });
  }
  if (message.kind === 'plan_job') return planJob(deps, message);
  return classifyItems(deps, message);
}

/** Records the planner takes per message by default (fewer with more than two schemes): a chunk's insert and sends stay well under its timeout. */
const PLAN_CHUNK_RECORDS = 2000;
/** Each planner statement's limit: far below the worker's timeout, so a stuck one is cancelled. */
const PLAN_STATEMENT_MS = 10_000;
const ACTIVE: JobStatus[] = ['pending', 'running'];

/**
 * One chunk of a job's plan: creates the work items of the next records of its target, sends
 * them out, and chains the next chunk, so planning does bounded work per message however
 * large the job. Planned jobs (a retry) walk their existing items instead and send out the
 * pending ones.
 *
 * Two transactions, both holding the job's row. The first inserts the items (`ON CONFLICT DO
 * NOTHING`) and commits, so the classify workers find them. The second checks the chain is
 * still where the message says (`plan_cursor`), sends the items and the next `plan_job`, and
 * only then moves the cursor: a duplicate delivery waits for the row and then finds the cursor
 * moved (nothing is sent twice); a crash before the commit leaves the cursor, and the
 * redelivered message redoes the chunk (its items exist: only the sends repeat), while the
 * next `plan_job` already sent finds a cursor it does not match and is dropped.
 */
async function planJob(deps: ClassifyDeps, message: PlanJob): Promise<void> {
  const after = message.after ?? null;
  const records = deps.settings.planChunkRecords ?? PLAN_CHUNK_RECORDS;
  const step = await deps.db.transaction().execute(async (trx) => {
    await limitTransaction(trx, PLAN_STATEMENT_MS);
    const job = await lockPlannableJob(trx, message.job_id, after);
    if (!job) return undefined;
    // At most twice as many items as records: with many schemes, fewer records a chunk, so its
    // sends (SQS takes 10 messages a call) stay a few seconds.
    const chunk = Math.max(1, Math.min(records, Math.floor((2 * records) / job.scheme_ids.length)));
    if (job.status === 'pending')
      await trx
        .updateTable('classification_jobs')
        .set({ status: 'running' })
        .where('id', '=', job.id)
        .execute();
    if (job.planned_at !== null) {
      // A retry: every item exists; walk the records that have some to run again.
      const rows = await trx
        .selectFrom('classification_items')
        .select('record_id')
        .where('job_id', '=', job.id)
        .where('status', 'in', ['pending', 'failed'])
        .$if(after !== null, (q) => q.where('record_id', '>', after!))
        .groupBy('record_id')
        .orderBy('record_id')
        .limit(chunk)
        .execute();
      const end = rows.at(-1)?.record_id ?? after;
      await resetFailed(trx, job.id, after, end);
      return { end, records: 0, last: rows.length < chunk };
    }
    const cap = (job.options as { max_records?: number }).max_records ?? Number.POSITIVE_INFINITY;
    const limit = Math.min(chunk, cap - job.planned_records);
    const ids =
      limit <= 0
        ? []
        : (
            await targetRecords(trx, job)
              .$if(after !== null, (q) => q.where('id', '>', after!))
              .orderBy('id')
              .limit(limit)
              .execute()
          ).map((r) => r.id);
    if (ids.length > 0) {
      await trx
        .insertInto('classification_items')
        .columns(['job_id', 'record_id', 'scheme_id'])
        .expression((eb) =>
          eb
            .selectFrom('records as r')
            .crossJoin('classification_schemes as s')
            .select([sql.lit(job.id).as('job_id'), 'r.id as record_id', 's.id as scheme_id'])
            .where(sql<boolean>`r.id = any(${ids}::uuid[])`)
            .where(sql<boolean>`s.id = any(${job.scheme_ids}::uuid[])`),
        )
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    // Through when the target has no more records, or max_records of them are planned.
    const last = ids.length < limit || job.planned_records + ids.length >= cap;
    const end = ids.at(-1) ?? after;
    // A retry of a job whose planning failed: this range's failed items run again too.
    await resetFailed(trx, job.id, after, end);
    return { end, records: ids.length, last };
  });
  if (!step) return;

  const finished = await deps.db.transaction().execute(async (trx) => {
    await limitTransaction(trx, PLAN_STATEMENT_MS);
    const job = await lockPlannableJob(trx, message.job_id, after);
    if (!job) return false;
    const items =
      step.end === after
        ? []
        : await trx
            .selectFrom('classification_items')
            .select(['record_id', 'scheme_id'])
            .where('job_id', '=', job.id)
            .where('status', '=', 'pending')
            .$if(after !== null, (q) => q.where('record_id', '>', after!))
            .where('record_id', '<=', step.end!)
            .orderBy('record_id')
            .orderBy('scheme_id')
            .execute();
    const size = deps.settings.itemsPerMessage ?? ITEMS_PER_MESSAGE;
    const messages: (ClassifyItems | PlanJob)[] = [];
    for (let i = 0; i < items.length; i += size) {
      messages.push({ kind: 'classify_items', job_id: job.id, items: items.slice(i, i + size) });
    }
    if (!step.last) messages.push({ kind: 'plan_job', job_id: job.id, after: step.end! });
    // Sent while the row is held (SQS, or pg-boss's own pool: never a second connection of
    // ours), so the cursor moves only once they are out.
    if (messages.length > 0) await deps.queue.send(deps.settings.classifyQueue, messages);
    await trx
      .updateTable('classification_jobs')
      .set({
        plan_cursor: step.last ? PLAN_DONE : step.end,
        planned_records: job.planned_records + step.records,
        ...(step.last && job.planned_at === null && { planned_at: sql<Date>`clock_timestamp()` }),
      })
      .where('id', '=', job.id)
      .execute();
    return step.last;
  });
  if (finished) await finishAndAnnounce(deps, message.job_id);
}

/** Puts a job's failed items of the records in (after, end] back to pending: a retry reaches them. */
async function resetFailed(trx: Db, jobId: string, after: string | null, end: string | null) {
  if (end === null || end === after) return;
  await trx
    .updateTable('classification_items')
    .set({ status: 'pending', attempts: 0, reason: null })
    .where('job_id', '=', jobId)
    .where('status', '=', 'failed')
    .$if(after !== null, (q) => q.where('record_id', '>', after!))
    .where('record_id', '<=', end)
    .execute();
}

/** The job, locked, if it still plans and its chain stands where the message says; else undefined (a stale message). */
async function lockPlannableJob(trx: Db, jobId: string, after: string | null) {
  const job = await trx
    .selectFrom('classification_jobs')
    .selectAll()
    .where('id', '=', jobId)
    .forUpdate()
    .executeTakeFirst();
  if (!job || !ACTIVE.includes(job.status) || job.plan_cursor !== after) return undefined;
  return job;
}

/**
 * The records a job targets: of its datasources and its records (the whole workspace when it
 * names neither), after `record_id_after` and up to its `plan_until`.
 */
function targetRecords(db: Db, job: ClassificationJob) {
  const options = job.options as { record_id_after?: string };
  return db
    .selectFrom('records')
    .select('id')
    .where('workspace_id', '=', job.workspace_id)
    .$if(job.datasource_ids.length > 0 || job.record_ids.length > 0, (q) =>
      q.where((eb) =>
        eb.or([
          // Arrays, not IN lists: a job may name 100,000 records, above Postgres's 65,535 parameters.
          ...(job.datasource_ids.length > 0
            ? [sql<boolean>`datasource_id = any(${job.datasource_ids}::uuid[])`]
            : []),
          ...(job.record_ids.length > 0 ? [sql<boolean>`id = any(${job.record_ids}::uuid[])`] : []),
        ]),
      ),
    )
    .$if(options.record_id_after !== undefined, (q) => q.where('id', '>', options.record_id_after!))
    .$if(job.plan_until !== null, (q) => q.where('id', '<=', job.plan_until!));
}

async function classifyItems(deps: ClassifyDeps, message: ClassifyItems): Promise<void> {
  const job = await deps.db
    .selectFrom('classification_jobs')
    .selectAll()
    .where('id', '=', message.job_id)
    .executeTakeFirst();
  if (job?.status !== 'running') return;
  const schemeIds = [...new Set(message.items.map((i) => i.scheme_id))];
  const schemes = new Map(
    (
      await deps.db.selectFrom('classification_schemes').selectAll().where('id', 'in', schemeIds).execute()
    ).map((s) => [s.id, s]),
  );
  const watch = watchJob(deps.db, job.id, deps.settings.cancelPollMs ?? CANCEL_POLL_MS);
  try {
    for (let i = 0; i < message.items.length && !watch.signal.aborted; i += ITEM_CONCURRENCY) {
      await Promise.all(
        message.items
          .slice(i, i + ITEM_CONCURRENCY)
          .map((item) => classifyItem(deps, job, schemes.get(item.scheme_id), item, watch.signal)),
      );
    }
  } finally {
    watch.stop();
  }
  await finishAndAnnounce(deps, job.id);
}

/**
 * Finishes a job if it is done, and tells the task queue when a recurring task's run waits on
 * it. A lost announcement only delays the run's end: the maintenance sweep settles it too.
 */
async function finishAndAnnounce(deps: ClassifyDeps, jobId: string): Promise<void> {
  if (!(await finishIfDone(deps.db, jobId)) || !deps.settings.taskQueue) return;
  await nudgeDispatch(deps.queue, deps.settings.taskQueue);
  await announceJobFinished(deps.db, deps.queue, deps.settings.taskQueue, jobId);
}

/**
 * Aborts `signal` once the job stops running (cancelled, finished, deleted), looking every
 * `pollMs`: calls in flight for it are cut short instead of running to their end.
 */
function watchJob(db: Db, jobId: string, pollMs: number) {
  const controller = new AbortController();
  const timer = setInterval(() => {
    db.selectFrom('classification_jobs')
      .select('status')
      .where('id', '=', jobId)
      .executeTakeFirst()
      .then((job) => {
        if (job?.status !== 'running') controller.abort(new Error('The job is no longer running'));
      })
      .catch(() => undefined);
  }, pollMs);
  timer.unref();
  return { signal: controller.signal, stop: () => clearInterval(timer) };
}

/**
 * True while the item waits for its answer, its job runs and the job's budget holds: asked right
 * before each provider call. The first worker to find the budget spent stops the job.
 */
async function itemWanted(
  deps: ClassifyDeps,
  job: ClassificationJob,
  item: { record_id: string; scheme_id: string },
) {
  const row = await deps.db
    .selectFrom('classification_items as i')
    .innerJoin('classification_jobs as j', 'j.id', 'i.job_id')
    .select(['j.used_tokens', 'j.used_cost_usd'])
    .where('i.job_id', '=', job.id)
    .where('i.record_id', '=', item.record_id)
    .where('i.scheme_id', '=', item.scheme_id)
    .where('i.status', '=', 'pending')
    .where('j.status', '=', 'running')
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
 * the job's failures), so no worker calls for them, and its `job.budget_exceeded` event is recorded. The job's row first, as a cancel does (a planner chunk then waits).
 * True when this call stopped it.
 */
async function stopForBudget(db: Db, jobId: string, reason: string): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const stopped = await trx
      .updateTable('classification_jobs')
      .set({ status: 'budget_exceeded', error_message: reason, finished_at: sql<Date>`clock_timestamp()` })
      .where('id', '=', jobId)
      .where('status', '=', 'running')
      .returning(['id', 'workspace_id', 'status', 'error_message'])
      .executeTakeFirst();
    if (!stopped) return false;
    await trx
      .updateTable('classification_items')
      .set({ status: 'failed', reason })
      .where('job_id', '=', jobId)
      .where('status', '=', 'pending')
      .execute();
    await recordEvents(trx, [jobFinished(stopped, await itemCounts(trx, jobId))]);
    return true;
  });
}

type Outcome = (
  | { ok: true; values: Record<string, unknown>; justifications: Record<string, unknown> }
  | { ok: false; reason: string }
  /** The job stopped wanting the item meanwhile: nothing to record but the calls' usage. */
  | { ok: false; cancelled: true }
) & {
  /** Usage of every billed provider call made for the item (retries and the repair turn included). */
  calls: LlmUsage[];
};

async function classifyItem(
  deps: ClassifyDeps,
  job: ClassificationJob,
  scheme: ClassificationScheme | undefined,
  item: { record_id: string; scheme_id: string },
  signal: AbortSignal,
): Promise<void> {
  if (signal.aborted) return;
  const claimed = await deps.db
    .updateTable('classification_items')
    .set((eb) => ({ attempts: eb('attempts', '+', 1) }))
    .where('job_id', '=', job.id)
    .where('record_id', '=', item.record_id)
    .where('scheme_id', '=', item.scheme_id)
    .where('status', '=', 'pending')
    .returning('attempts')
    .executeTakeFirst();
  if (!claimed || !scheme) return;
  const record = await deps.db
    .selectFrom('records')
    .select(['title', 'text_content'])
    .where('id', '=', item.record_id)
    .executeTakeFirst();
  if (!record) return;
  const outcome = await askModel(deps, job, scheme, record, {
    signal,
    stillWanted: () => itemWanted(deps, job, item),
  });
  const prices = deps.prices ?? priceTable();
  if (!outcome.ok) {
    if ('cancelled' in outcome) {
      await recordUsage(deps.db, job, outcome.calls, prices);
      return;
    }
    await deps.db.transaction().execute(async (trx) => {
      await recordUsage(trx, job, outcome.calls, prices);
      await trx
        .updateTable('classification_items')
        .set({ status: 'failed', reason: outcome.reason })
        .where('job_id', '=', job.id)
        .where('record_id', '=', item.record_id)
        .where('scheme_id', '=', item.scheme_id)
        .where('status', '=', 'pending')
        .execute();
    });
    recordMetric('ItemsFailed', { provider: job.provider, model: job.model });
    return;
  }
  await deps.db.transaction().execute(async (trx) => {
    // Paid for whether or not the result is kept below.
    await recordUsage(trx, job, outcome.calls, prices);
    const done = await trx
      .updateTable('classification_items')
      .set({ status: 'succeeded', reason: null })
      .where('job_id', '=', job.id)
      .where('record_id', '=', item.record_id)
      .where('scheme_id', '=', item.scheme_id)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    // Cancelled meanwhile, or another worker got there first: store nothing.
    if (done.numUpdatedRows === 0n) return;
    await trx
      .insertInto('classification_results')
      .values({
        id: newId(),
        workspace_id: job.workspace_id,
        job_id: job.id,
        record_id: item.record_id,
        scheme_id: item.scheme_id,
        value: JSON.stringify(outcome.values),
        justifications: JSON.stringify(outcome.justifications),
        provider: job.provider,
        model: job.model,
      })
      .onConflict((oc) => oc.columns(['job_id', 'record_id', 'scheme_id']).doNothing())
      .execute();
  });
  recordMetric('ItemsClassified', { provider: job.provider, model: job.model });
}

/**
 * Asks the model, validates the answer against the scheme, and gives an invalid answer one
 * repair attempt that says what was wrong. Provider errors that outlived their retries and
 * answers still invalid after the repair are failures with a reason of ours (never the
 * provider's text, which may echo the key; that goes to the log, redacted); anything else throws.
 */
async function askModel(
  deps: ClassifyDeps,
  job: ClassificationJob,
  scheme: ClassificationScheme,
  record: { title: string | null; text_content: string },
  wanted: { signal: AbortSignal; stillWanted: () => Promise<boolean> },
): Promise<Outcome> {
  const calls: LlmUsage[] = [];
  const provider = deps.provider(job.provider);
  if (!provider) return { ok: false, reason: `The provider "${job.provider}" is not configured`, calls };
  const fields = scheme.fields as SchemeField[];
  const prompt = buildPrompt({
    scheme: { ...scheme, fields },
    text: record.text_content,
    title: record.title ?? undefined,
  });
  const jsonSchema = modelOutputSchema(fields);
  const temperature = typeof job.options.temperature === 'number' ? job.options.temperature : undefined;
  const messages: { role: 'user' | 'assistant'; content: string }[] = [
    { role: 'user', content: prompt.user },
  ];
  const price = priceOf(deps.prices ?? priceTable(), job.provider, job.model);
  // The budget's counters move as each billed attempt returns, before its concurrency slot is
  // released: the next call's check, this worker's or another's, sees what it spent.
  const onUsage = async (usage: LlmUsage) => {
    calls.push(usage);
    await addToJobCounters(deps.db, job.id, [usage], price);
  };
  for (let attempt = 0; attempt < 2; attempt++) {
    let answer: Awaited<ReturnType<LlmProvider['classify']>>;
    try {
      answer = await provider.classify({
        model: job.model,
        system: prompt.system,
        messages,
        jsonSchema,
        schemaName: 'classification',
        ...(temperature !== undefined && { temperature }),
        signal: wanted.signal,
        stillWanted: wanted.stillWanted,
        onUsage,
      });
    } catch (error) {
      if (!(error instanceof ProviderError)) throw error;
      if (wanted.signal.aborted || !(await wanted.stillWanted()))
        return { ok: false, cancelled: true, calls };
      deps.log.warn('Provider call failed', {
        provider: job.provider,
        reason: error.reason,
        status: error.status,
        detail: error.detail,
      });
      return { ok: false, reason: error.reason, calls };
    }
    const checked = validateModelOutput(fields, answer.output);
    if (checked.ok) {
      const justifications: Record<string, unknown> = {};
      for (const [field, j] of Object.entries(checked.value.justifications ?? {})) {
        const { reasoning, evidence } = j as { reasoning: string; evidence: string[] };
        justifications[field] = { reasoning, evidence: verifyEvidence(evidence, record.text_content) };
      }
      return { ok: true, values: checked.value.values, justifications, calls };
    }
    // The errors quote the answer: they go back to the model, and only their paths to the user.
    if (attempt === 1)
      return {
        ok: false,
        reason: `Invalid answer after one repair at ${checked.paths.join(', ')}`,
        calls,
      };
    messages.push(
      { role: 'assistant', content: answer.raw },
      { role: 'user', content: repairPrompt(checked.errors) },
    );
  }
  return { ok: false, reason: 'unreachable', calls };
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
 * was spent). The job's counters were moved call by call already ({@link addToJobCounters}).
 */
async function recordUsage(db: Db, job: ClassificationJob, calls: LlmUsage[], prices: PriceTable) {
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
    cost_usd: costOf(price, usage),
  }));
  await db.insertInto('llm_usage').values(rows).execute();
}

/**
 * Finishes a running job once its planner is through (every item exists and, in a retry, every
 * failed one is pending again) and no item is pending: completed, with errors, or failed. Before
 * that, no item pending only means the next chunk is not planned yet. A job
 * one of whose datasources or schemes was deleted meanwhile lost those items with them (the
 * cascade): it ends `cancelled` with the reason instead of claiming a completion it never made,
 * keeping the results whose records remain.
 */
export async function finishIfDone(db: Db, jobId: string): Promise<boolean> {
  // The job's end and its event in one statement: both or neither (lib/events/outbox.ts).
  const finished = await sql`
    WITH done AS (
    UPDATE classification_jobs j
    SET status = CASE
          WHEN gone.reason IS NOT NULL THEN 'cancelled'
          WHEN c.succeeded = 0 AND c.failed > 0 THEN 'failed'
          WHEN c.failed > 0 THEN 'completed_with_errors'
          ELSE 'completed' END,
        error_message = CASE
          WHEN gone.reason IS NOT NULL THEN gone.reason
          WHEN c.succeeded = 0 AND c.failed > 0 THEN 'Every item failed (see failures)' END,
        finished_at = clock_timestamp()
    FROM (
      SELECT count(*) FILTER (WHERE status = 'pending') AS pending,
             count(*) FILTER (WHERE status = 'succeeded') AS succeeded,
             count(*) FILTER (WHERE status = 'failed') AS failed
      FROM classification_items WHERE job_id = ${jobId}
    ) c,
    (
      SELECT CASE
        WHEN EXISTS (SELECT 1 FROM unnest(jj.datasource_ids) d(id)
                     WHERE NOT EXISTS (SELECT 1 FROM datasources x WHERE x.id = d.id))
          THEN 'A datasource of the job was deleted while it ran; its items were dropped'
        WHEN EXISTS (SELECT 1 FROM unnest(jj.scheme_ids) s(id)
                     WHERE NOT EXISTS (SELECT 1 FROM classification_schemes x WHERE x.id = s.id))
          THEN 'A scheme of the job was deleted while it ran; its items were dropped'
        END AS reason
      FROM classification_jobs jj WHERE jj.id = ${jobId}
    ) gone
    WHERE j.id = ${jobId} AND j.status = 'running' AND j.plan_cursor = ${PLAN_DONE} AND c.pending = 0
    RETURNING j.id, j.workspace_id, j.status, j.error_message, c.succeeded, c.failed)
    INSERT INTO event_outbox (id, workspace_id, type, data)
    SELECT ${newId()}, workspace_id,
           CASE status WHEN 'failed' THEN 'job.failed' WHEN 'cancelled' THEN 'job.cancelled'
                       ELSE 'job.completed' END,
           jsonb_build_object('job_id', id, 'status', status, 'reason', error_message,
                              'counts', jsonb_build_object('succeeded', succeeded, 'failed', failed))
    FROM done`.execute(db);
  return (finished.numAffectedRows ?? 0n) > 0n;
}

/** Fails the items of a dead-lettered classify message, then finishes their job if it can. */
export async function failDeadClassifyMessage(db: Db, body: string): Promise<void> {
  let message: ClassifyMessage;
  try {
    message = ClassifyMessage.parse(JSON.parse(body));
  } catch {
    return;
  }
  if (message.kind === 'plan_job') {
    await db.transaction().execute(async (trx) => {
      const failed = await trx
        .updateTable('classification_jobs')
        .set({
          status: 'failed',
          error_message: 'Planning failed after every retry',
          finished_at: sql<Date>`clock_timestamp()`,
        })
        .where('id', '=', message.job_id)
        .where('status', 'in', ['pending', 'running'])
        .returning(['id', 'workspace_id', 'status', 'error_message'])
        .executeTakeFirst();
      if (failed) await recordEvents(trx, [jobFinished(failed, await itemCounts(trx, failed.id))]);
    });
    return;
  }
  for (const item of message.items) {
    await db
      .updateTable('classification_items')
      .set({ status: 'failed', reason: 'Processing failed after every retry' })
      .where('job_id', '=', message.job_id)
      .where('record_id', '=', item.record_id)
      .where('scheme_id', '=', item.scheme_id)
      .where('status', '=', 'pending')
      .execute();
  }
  await finishIfDone(db, message.job_id);
}
