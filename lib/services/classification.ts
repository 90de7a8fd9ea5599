import { sql } from 'kysely';
import {
  ClassifyMessage,
  ITEMS_PER_MESSAGE,
  itemMessages,
  PLAN_DONE,
  type PlanJob,
} from '#lib/classify/messages.ts';
import type { Db } from '#lib/db/database.ts';
import type { ClassificationJob, JobStatus } from '#lib/db/schema.ts';
import { limitTransaction } from '#lib/db/statement-timeout.ts';
import { jobFinished } from '#lib/events/lifecycle.ts';
import { nudgeDispatch, recordEvents } from '#lib/events/outbox.ts';
import { newId } from '#lib/ids.ts';
import { advanceBatch, batchItems } from './classify-batch.ts';
import { type ClassifyDeps, classifyItems } from './classify-items.ts';
import { announceJobFinished, itemCounts } from './job-events.ts';

export type { ClassifyDeps } from './classify-items.ts';

export class PoisonClassifyMessageError extends Error {
  override name = 'PoisonClassifyMessageError';
}

/**
 * Handles one message of the classify queue. Idempotent: items are classified only while
 * pending and by the one delivery holding their lease, results are unique per (job, record,
 * scheme), and a job is finished by whichever worker sees its last item done.
 */
export async function handleClassifyMessage(deps: ClassifyDeps, body: string): Promise<void> {
  let message: ClassifyMessage;
  try {
    message = ClassifyMessage.parse(JSON.parse(body));
  } catch (cause) {
    throw new PoisonClassifyMessageError('Not a classify message', { cause });
  }
  if (message.kind === 'plan_job') return planJob(deps, message);
  if (message.kind === 'advance_batch') {
    if (await advanceBatch(deps, message)) await finishAndAnnounce(deps, message.job_id);
    return;
  }
  if (await classifyItems(deps, message)) await finishAndAnnounce(deps, message.job_id);
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
    // A batch job's first planning puts each chunk's items in one provider batch; a retry runs online.
    const messages: ClassifyMessage[] =
      job.mode === 'batch' && job.planned_at === null
        ? await batchItems(trx, job.id, items)
        : itemMessages(job.id, items, size);
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
    // A lease left by a holder the budget stopped must not keep the retry waiting; a retry
    // runs online, so the item leaves its batch.
    .set({
      status: 'pending',
      attempts: 0,
      reason: null,
      lease_owner: null,
      lease_expires_at: null,
      batch_id: null,
    })
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
  if (message.kind === 'advance_batch') return; // Its batch stays open: the next sweep sends it again.
  for (const item of message.items) {
    // An item under a live lease is another delivery's, which settles it (or, dead, lets the
    // lease run out and the maintenance sweep send it again).
    await db
      .updateTable('classification_items')
      .set({
        status: 'failed',
        reason: 'Processing failed after every retry',
        lease_owner: null,
        lease_expires_at: null,
      })
      .where('job_id', '=', message.job_id)
      .where('record_id', '=', item.record_id)
      .where('scheme_id', '=', item.scheme_id)
      .where('status', '=', 'pending')
      .where((eb) =>
        eb.or([
          eb('lease_expires_at', 'is', null),
          eb('lease_expires_at', '<=', sql<Date>`clock_timestamp()`),
        ]),
      )
      .execute();
  }
  await finishIfDone(db, message.job_id);
}
