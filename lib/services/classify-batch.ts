import { sql } from 'kysely';
import { type AdvanceBatch, ITEMS_PER_MESSAGE, itemMessages } from '#lib/classify/messages.ts';
import type { Db } from '#lib/db/database.ts';
import type { BatchStatus, ClassificationBatch, ClassificationJob } from '#lib/db/schema.ts';
import { limitTransaction } from '#lib/db/statement-timeout.ts';
import { newId } from '#lib/ids.ts';
import type { BatchState, LlmBatchApi } from '#lib/ports/llm/provider.ts';
import { ProviderError } from '#lib/ports/llm/provider.ts';
import {
  type ClassifyDeps,
  classifyClaimed,
  firstRequest,
  unitItems,
  unitKey,
  unitsFor,
} from './classify-items.ts';
import { claimItems, type ItemKey, LEASE_SECONDS, releaseLeases } from './item-leases.ts';

/*
 * Batch mode (a job's `mode: "batch"`): the planner puts each chunk's items in one provider
 * batch (a `classification_batches` row, `preparing`) instead of sending them to the online
 * worker; the items keep `status: pending` with `batch_id` set, which the online worker's claim
 * leaves alone. `advance_batch` messages (from the planner, the cancel route and every maintenance
 * sweep) move a batch along; each step is idempotent, so a message delivered twice changes nothing.
 */

/** A batch whose items are all settled or let go: no message moves it again. */
const SETTLED: BatchStatus[] = ['completed', 'cancelled', 'failed'];
/** Each statement of a submission's transaction: the upload of a large file included. */
const SUBMIT_STATEMENT_MS = 120_000;

/**
 * Puts planned items in a new batch of the job, in the planner's transaction, and answers the
 * message that submits it (sent with the planner's other messages, so it goes out once).
 */
export async function batchItems(trx: Db, jobId: string, items: readonly ItemKey[]): Promise<AdvanceBatch[]> {
  if (items.length === 0) return [];
  const batchId = newId();
  await trx.insertInto('classification_batches').values({ id: batchId, job_id: jobId }).execute();
  await sql`UPDATE classification_items i SET batch_id = ${batchId}
    FROM unnest(${items.map((i) => i.record_id)}::uuid[], ${items.map((i) => i.scheme_id)}::uuid[]) AS m(record_id, scheme_id)
    WHERE i.job_id = ${jobId} AND i.record_id = m.record_id AND i.scheme_id = m.scheme_id
      AND i.status = 'pending' AND i.batch_id IS NULL`.execute(trx);
  return [{ kind: 'advance_batch', job_id: jobId, batch_id: batchId }];
}

/**
 * One step of a batch: submit it (preparing), look at it at the provider and, once it is done,
 * collect its answers (submitted), or cancel it when its job no longer runs. True when items
 * were settled (the job may be done).
 */
export async function advanceBatch(deps: ClassifyDeps, message: AdvanceBatch): Promise<boolean> {
  const batch = await findBatch(deps.db, message);
  if (!batch || SETTLED.includes(batch.status)) return false;
  const job = await deps.db
    .selectFrom('classification_jobs')
    .selectAll()
    .where('id', '=', batch.job_id)
    .executeTakeFirst();
  if (!job) return false;
  const api = deps.provider(job.provider)?.batches;
  if (job.status !== 'running') {
    await cancelBatch(deps, batch, api);
    return false;
  }
  if (!api) {
    // The provider lost its batch API (configuration changed): its items go online.
    await letGo(deps, job, batch.id, 'failed', `The provider "${job.provider}" has no batch API here`);
    return true;
  }
  if (batch.status === 'preparing') {
    await submitBatch(deps, job, batch.id, api);
    return false;
  }
  const state = await api.retrieve(batch.provider_batch_id!);
  await deps.db
    .updateTable('classification_batches')
    .set({ provider_status: state.status })
    .where('id', '=', batch.id)
    .execute();
  if (!state.done) return false;
  await collectBatch(deps, job, batch, api, state);
  return true;
}

/**
 * The message's batch. The planner sends a batch's first message before its transaction, which
 * holds the job's row, commits: a batch not there yet may be in it, so its job's row is waited
 * for (that lock) and the batch looked up again.
 */
async function findBatch(db: Db, message: AdvanceBatch) {
  const lookUp = () =>
    db
      .selectFrom('classification_batches')
      .selectAll()
      .where('id', '=', message.batch_id)
      .where('job_id', '=', message.job_id)
      .executeTakeFirst();
  const batch = await lookUp();
  if (batch) return batch;
  await db
    .transaction()
    .execute((trx) =>
      trx
        .selectFrom('classification_jobs')
        .select('id')
        .where('id', '=', message.job_id)
        .forShare()
        .execute(),
    );
  return lookUp();
}

/**
 * Sends a batch's items to the provider as one batch of the same requests the online path makes.
 * The batch's row is locked from the check to the stored batch id, so a duplicate delivery waits
 * and then finds it submitted. A process that dies after the provider accepted the batch and
 * before the commit leaves it `preparing`: the next delivery submits again, and the adapter's
 * submission, idempotent by the docsift batch id, answers the first batch instead of a second.
 */
async function submitBatch(deps: ClassifyDeps, job: ClassificationJob, batchId: string, api: LlmBatchApi) {
  // Why the batch goes online instead, decided under the lock and acted on after the commit.
  const refused = await deps.db.transaction().execute(async (trx): Promise<string | undefined> => {
    await limitTransaction(trx, SUBMIT_STATEMENT_MS);
    const locked = await trx
      .selectFrom('classification_batches')
      .select('status')
      .where('id', '=', batchId)
      .forUpdate()
      .executeTakeFirst();
    if (locked?.status !== 'preparing') return undefined;
    const items = await trx
      .selectFrom('classification_items')
      .select(['record_id', 'scheme_id'])
      .where('job_id', '=', job.id)
      .where('batch_id', '=', batchId)
      .where('status', '=', 'pending')
      .orderBy('record_id')
      .orderBy('scheme_id')
      .execute();
    const units = await unitsFor(trx, job, items);
    if (units.length === 0) {
      await settle(trx, batchId, 'completed');
      return undefined;
    }
    // The provider would refuse it (Bedrock takes 100 at least): these few go online, once the
    // lock is let go (the online worker skips items that are still in a batch).
    if (api.minRequests && units.length < api.minRequests)
      return `${units.length} requests, fewer than the provider's minimum of ${api.minRequests} a batch: sent online`;
    const requests = units.map((unit) => ({ customId: unitKey(unit), request: firstRequest(job, unit) }));
    let submitted: { batchId: string; inputFileId: string };
    try {
      submitted = await api.submit(requests, { docsift_job_id: job.id, docsift_batch_id: batchId });
    } catch (error) {
      // A refusal that would stand on every try (a model without batch inference, a bad role)
      // sends the items online; anything else is tried again with the message.
      if (!(error instanceof ProviderError) || error.retryable) throw error;
      deps.log.warn('The provider refused a batch', {
        batch_id: batchId,
        reason: error.reason,
        detail: error.detail,
      });
      return `The provider refused the batch (${error.reason}): sent online`;
    }
    await trx
      .updateTable('classification_batches')
      .set({
        status: 'submitted',
        provider_batch_id: submitted.batchId,
        input_file_id: submitted.inputFileId,
        request_count: requests.length,
      })
      .where('id', '=', batchId)
      .execute();
    deps.log.info('Batch submitted', { job_id: job.id, batch_id: batchId, requests: requests.length });
    return undefined;
  });
  if (refused === undefined) return;
  await letGo(deps, job, batchId, 'cancelled', refused);
  deps.log.info('Batch sent online', { job_id: job.id, batch_id: batchId, reason: refused });
}

/**
 * Stores a finished batch's answers: its pending items are claimed (leased, as the online worker
 * does, so a duplicate delivery takes none of them), and each unit's answer goes through the
 * online path's validation; an invalid one gets its repair turn online, and a unit without an
 * answer (an error line, an expired or failed batch) is asked online. The batch is settled once
 * no item of it is pending; a collector that died leaves its items to the next sweep's delivery.
 */
async function collectBatch(
  deps: ClassifyDeps,
  job: ClassificationJob,
  batch: ClassificationBatch,
  api: LlmBatchApi,
  state: BatchState,
) {
  const answers = new Map((await api.answers(state)).map((a) => [a.customId, a]));
  const pending = await deps.db
    .selectFrom('classification_items')
    .select(['record_id', 'scheme_id'])
    .where('job_id', '=', job.id)
    .where('batch_id', '=', batch.id)
    .where('status', '=', 'pending')
    .execute();
  const owner = newId();
  const leaseSeconds = deps.settings.leaseSeconds ?? LEASE_SECONDS;
  const { claimed } = await claimItems(deps.db, job.id, pending, owner, leaseSeconds, batch.id);
  // Answers only for units whose items are all ours: a part of one (the rest settled) goes online.
  const mine = new Set(claimed.map((i) => `${i.record_id}:${i.scheme_id}`));
  const usable = new Map(
    [...answers].filter(([key]) => unitItems(key).every((i) => mine.has(`${i.record_id}:${i.scheme_id}`))),
  );
  try {
    if (claimed.length > 0) await classifyClaimed(deps, job, claimed, owner, leaseSeconds, usable);
  } finally {
    if (claimed.length > 0)
      await releaseLeases(deps.db, job.id, owner, claimed).catch((error: Error) =>
        deps.log.warn('Could not release item leases; they run out by themselves', { error }),
      );
  }
  const left = await deps.db
    .selectFrom('classification_items')
    .select('record_id')
    .where('batch_id', '=', batch.id)
    .where('status', '=', 'pending')
    .limit(1)
    .executeTakeFirst();
  if (!left) {
    const ok = state.completed;
    await settle(
      deps.db,
      batch.id,
      ok ? 'completed' : 'failed',
      ok ? null : `The batch ended ${state.status}`,
    );
  }
}

/** Cancels a batch whose job stopped (cancelled, budget, deleted): at the provider, then here. */
async function cancelBatch(deps: ClassifyDeps, batch: ClassificationBatch, api: LlmBatchApi | undefined) {
  if (batch.provider_batch_id && api) {
    try {
      await api.cancel(batch.provider_batch_id);
    } catch (error) {
      if (!(error instanceof ProviderError)) throw error;
      // A batch that finished meanwhile cannot be cancelled: nothing more is billed either way.
      deps.log.warn('Could not cancel a provider batch', {
        batch_id: batch.id,
        reason: error.reason,
        detail: error.detail,
      });
    }
  }
  // Items still pending (a job that failed rather than was cancelled) leave it: a retry runs them online.
  await deps.db
    .updateTable('classification_items')
    .set({ batch_id: null })
    .where('batch_id', '=', batch.id)
    .where('status', '=', 'pending')
    .execute();
  await settle(deps.db, batch.id, 'cancelled');
  deps.log.info('Batch cancelled', { job_id: batch.job_id, batch_id: batch.id });
}

/**
 * Gives a batch's pending items to the online worker and settles the batch with a reason. Not in
 * a transaction: the items' messages go out once they have left the batch, which the online
 * worker's claim checks.
 */
async function letGo(
  deps: ClassifyDeps,
  job: ClassificationJob,
  batchId: string,
  status: BatchStatus,
  reason: string,
) {
  const items = await deps.db
    .updateTable('classification_items')
    .set({ batch_id: null })
    .where('batch_id', '=', batchId)
    .where('status', '=', 'pending')
    .returning(['record_id', 'scheme_id'])
    .execute();
  items.sort((a, b) => a.record_id.localeCompare(b.record_id));
  await settle(deps.db, batchId, status, reason);
  const size = deps.settings.itemsPerMessage ?? ITEMS_PER_MESSAGE;
  if (items.length > 0) await deps.queue.send(deps.settings.classifyQueue, itemMessages(job.id, items, size));
}

async function settle(db: Db, batchId: string, status: BatchStatus, reason: string | null = null) {
  await db
    .updateTable('classification_batches')
    .set({ status, error_message: reason, finished_at: sql<Date>`clock_timestamp()` })
    .where('id', '=', batchId)
    .where('status', 'not in', SETTLED)
    .execute();
}
