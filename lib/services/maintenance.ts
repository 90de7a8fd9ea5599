import type { Logger } from '@aws-lambda-powertools/logger';
import { sql } from 'kysely';
import {
  type AdvanceBatch,
  type ClassifyMessage,
  ITEMS_PER_MESSAGE,
  itemMessages,
  PLAN_DONE,
} from '#lib/classify/messages.ts';
import type { Db } from '#lib/db/database.ts';
import { nudgeDispatch } from '#lib/events/outbox.ts';
import type {
  DeleteDatasource,
  DeleteWorkspace,
  ExportBundle,
  IndexSearch,
  ProcessDatasource,
} from '#lib/ingest/messages.ts';
import type { QueueSender } from '#lib/ports/queue/queue.ts';
import type { RunTask } from '#lib/schedule/messages.ts';

export type MaintenanceDeps = {
  db: Db;
  queue: QueueSender;
  log: Logger;
  settings: {
    ingestQueue: string;
    classifyQueue: string;
    taskQueue: string;
    /** Work that has not moved for this long is sent again (longer than a queue's whole retry window). */
    stuckAfterSeconds: number;
    /** A presigned upload lives this long; an upload that has not come an hour after is given up. */
    uploadUrlExpireSeconds: number;
    /** Published events and webhook delivery attempts older than this are deleted; kept when absent. */
    retention?: { eventsDays: number; webhookDeliveriesDays: number };
  };
};

/** What one sweep found and did, for the log and the tests. */
export type SweepReport = {
  datasources_resent: number;
  /** Datasources left `search_status: indexing`: their index step, again. */
  search_indexes_resent: number;
  /** Exports `pending` or `processing` that stopped moving: their message, again. */
  exports_resent: number;
  /** Background deletes (datasources `deleting`, workspaces `deleted_at`) that stopped moving: their message, again. */
  deletes_resent: number;
  uploads_expired: number;
  jobs_resent: number;
  items_resent: number;
  /** Open provider batches sent an `advance_batch` (submitted, polled, or cancelled for a stopped job). */
  batches_polled: number;
  task_runs_resent: number;
  /** Lifecycle events not yet published (their nudge lost, or none sent). */
  events_unsent: number;
  /** Published events and webhook delivery attempts deleted for their age. */
  events_pruned: number;
  webhook_deliveries_pruned: number;
};

/** Rows handled per kind and sweep: a backlog drains over several sweeps, each one bounded. */
const SWEEP_LIMIT = 500;

/**
 * The maintenance sweep: finds work that stopped moving and sends it again. Safe because every
 * consumer is idempotent (a datasource's run, a job's items, a task's firing are each keyed),
 * so a message sent twice changes nothing, and a message lost between a commit and its send
 * (a process that died there) is replaced. It also gives up uploads that never came.
 */
export async function sweep(deps: MaintenanceDeps): Promise<SweepReport> {
  const report = {
    datasources_resent: await resendStuckDatasources(deps),
    search_indexes_resent: await resendStuckIndexing(deps),
    exports_resent: await resendStuckExports(deps),
    deletes_resent: await resendStuckDeletes(deps),
    uploads_expired: await expireUploads(deps),
    ...(await resendStuckJobs(deps)),
    batches_polled: await pollBatches(deps),
    task_runs_resent: await resendStuckTaskRuns(deps),
    events_unsent: await resendUnsentEvents(deps),
    ...(await pruneEvents(deps)),
  };
  deps.log.info('Maintenance sweep', report);
  return report;
}

/**
 * Unsent outbox events: one publish message, whose dispatcher sends them in bounded batches.
 * Every unsent one, not only late ones: where nothing nudged the dispatcher (its nudge lost),
 * the sweep is what publishes.
 */
async function resendUnsentEvents(deps: MaintenanceDeps): Promise<number> {
  const unsent = await deps.db
    .selectFrom('event_outbox')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('sent_at', 'is', null)
    .executeTakeFirstOrThrow();
  if (unsent.n > 0) await nudgeDispatch(deps.queue, deps.settings.taskQueue);
  return unsent.n;
}

/** Rows a sweep deletes per table at most: a backlog (a first sweep after an upgrade) drains over several. */
const PRUNE_LIMIT = 5000;

/**
 * Deletes published events older than the retention (a webhook retry after that finds its event
 * gone and stops; the retries span about an hour) and delivery attempts older than theirs.
 * Unpublished events are never deleted.
 */
async function pruneEvents(
  deps: MaintenanceDeps,
): Promise<{ events_pruned: number; webhook_deliveries_pruned: number }> {
  const retention = deps.settings.retention;
  if (!retention) return { events_pruned: 0, webhook_deliveries_pruned: 0 };
  const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000);
  const events = await deps.db
    .deleteFrom('event_outbox')
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('event_outbox')
        .select('id')
        .where('sent_at', 'is not', null)
        .where('sent_at', '<', daysAgo(retention.eventsDays))
        .limit(PRUNE_LIMIT),
    )
    .executeTakeFirst();
  const deliveries = await deps.db
    .deleteFrom('webhook_deliveries')
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('webhook_deliveries')
        .select('id')
        .where('delivered_at', '<', daysAgo(retention.webhookDeliveriesDays))
        .limit(PRUNE_LIMIT),
    )
    .executeTakeFirst();
  return {
    events_pruned: Number(events.numDeletedRows),
    webhook_deliveries_pruned: Number(deliveries.numDeletedRows),
  };
}

const stuckBefore = (deps: MaintenanceDeps) => new Date(Date.now() - deps.settings.stuckAfterSeconds * 1000);

/** Datasources `pending` or `processing` with no change for too long: their run is sent again. */
async function resendStuckDatasources(deps: MaintenanceDeps): Promise<number> {
  const stuck = await deps.db
    .updateTable('datasources')
    // A no-op change: the updated_at trigger marks the resend, so the next sweep waits a full period.
    .set((eb) => ({ status: eb.ref('status') }))
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('datasources')
        .select('id')
        .where('status', 'in', ['pending', 'processing'])
        .where('updated_at', '<', stuckBefore(deps))
        .limit(SWEEP_LIMIT),
    )
    .returning(['id', 'run_id'])
    .execute();
  const messages: ProcessDatasource[] = stuck.map((d) => ({
    kind: 'process_datasource',
    datasource_id: d.id,
    run_id: d.run_id,
  }));
  if (messages.length > 0) await deps.queue.send(deps.settings.ingestQueue, messages);
  return messages.length;
}

/** Complete datasources whose index step has not finished for too long: it is sent again. */
async function resendStuckIndexing(deps: MaintenanceDeps): Promise<number> {
  const stuck = await deps.db
    .updateTable('datasources')
    .set((eb) => ({ search_status: eb.ref('search_status') }))
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('datasources')
        .select('id')
        .where('status', '=', 'complete')
        .where('search_status', '=', 'indexing')
        .where('updated_at', '<', stuckBefore(deps))
        .limit(SWEEP_LIMIT),
    )
    .returning(['id', 'run_id'])
    .execute();
  const messages: IndexSearch[] = stuck.map((d) => ({
    kind: 'index_search',
    datasource_id: d.id,
    run_id: d.run_id,
  }));
  if (messages.length > 0) await deps.queue.send(deps.settings.ingestQueue, messages);
  return messages.length;
}

/** Exports (bundles and files) `pending` or `processing` with no change for too long: sent again. */
async function resendStuckExports(deps: MaintenanceDeps): Promise<number> {
  const stuck = await deps.db
    .updateTable('bundle_exports')
    .set((eb) => ({ status: eb.ref('status') }))
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('bundle_exports')
        .select('id')
        .where('status', 'in', ['pending', 'processing'])
        .where('updated_at', '<', stuckBefore(deps))
        .limit(SWEEP_LIMIT),
    )
    .returning('id')
    .execute();
  const messages: ExportBundle[] = stuck.map((e) => ({ kind: 'export_bundle', export_id: e.id }));
  if (messages.length > 0) await deps.queue.send(deps.settings.ingestQueue, messages);
  return messages.length;
}

/**
 * Background deletes that stopped moving (a message lost, or dead-lettered): datasources left
 * `deleting` and workspaces left `deleted_at` get their delete message again. Each step of a
 * delete touches its row, so one that moves is never sent twice.
 */
async function resendStuckDeletes(deps: MaintenanceDeps): Promise<number> {
  const datasources = await deps.db
    .updateTable('datasources')
    .set((eb) => ({ status: eb.ref('status') }))
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('datasources')
        .select('id')
        .where('status', '=', 'deleting')
        .where('updated_at', '<', stuckBefore(deps))
        .limit(SWEEP_LIMIT),
    )
    .returning(['id', 'workspace_id'])
    .execute();
  const workspaces = await deps.db
    .updateTable('workspaces')
    .set((eb) => ({ deleted_at: eb.ref('deleted_at') }))
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('workspaces')
        .select('id')
        .where('deleted_at', 'is not', null)
        .where('updated_at', '<', stuckBefore(deps))
        .limit(SWEEP_LIMIT),
    )
    .returning('id')
    .execute();
  const messages: (DeleteDatasource | DeleteWorkspace)[] = [
    ...datasources.map((d) => ({
      kind: 'delete_datasource' as const,
      datasource_id: d.id,
      workspace_id: d.workspace_id,
    })),
    ...workspaces.map((w) => ({ kind: 'delete_workspace' as const, workspace_id: w.id })),
  ];
  if (messages.length > 0) await deps.queue.send(deps.settings.ingestQueue, messages);
  return messages.length;
}

/**
 * Jobs that stopped moving: planning never started or stopped half-way (its `plan_job` was
 * lost) gets that message again, from the job's cursor; a planned job whose pending items saw
 * no activity gets their `classify_items` again (at most {@link SWEEP_LIMIT} items a sweep).
 */
async function resendStuckJobs(
  deps: MaintenanceDeps,
): Promise<{ jobs_resent: number; items_resent: number }> {
  const before = stuckBefore(deps);
  const planning = await deps.db
    .updateTable('classification_jobs')
    .set((eb) => ({ status: eb.ref('status') }))
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('classification_jobs')
        .select('id')
        .where('status', 'in', ['pending', 'running'])
        .where((w) => w.or([w('plan_cursor', 'is', null), w('plan_cursor', '!=', PLAN_DONE)]))
        .where('updated_at', '<', before)
        .limit(SWEEP_LIMIT),
    )
    .returning(['id', 'plan_cursor'])
    .execute();
  const messages: ClassifyMessage[] = planning.map((j) => ({
    kind: 'plan_job',
    job_id: j.id,
    ...(j.plan_cursor !== null && { after: j.plan_cursor }),
  }));
  // Planned jobs whose pending items have not moved: their messages were lost.
  const idle = await deps.db
    .selectFrom('classification_items as i')
    .innerJoin('classification_jobs as j', 'j.id', 'i.job_id')
    .select(['i.job_id', 'i.record_id', 'i.scheme_id'])
    .where('j.status', '=', 'running')
    .where('j.plan_cursor', '=', PLAN_DONE)
    .where('i.status', '=', 'pending')
    // Out in a provider batch: moved by pollBatches, never by the online worker.
    .where('i.batch_id', 'is', null)
    .where('i.updated_at', '<', before)
    .where('j.updated_at', '<', before)
    .orderBy('i.job_id')
    .orderBy('i.record_id')
    .orderBy('i.scheme_id')
    .limit(SWEEP_LIMIT)
    .execute();
  // Each job's items in messages that keep a record's items together (its schemes share a call).
  for (const jobId of new Set(idle.map((item) => item.job_id))) {
    const items = idle.filter((item) => item.job_id === jobId);
    messages.push(...itemMessages(jobId, items, ITEMS_PER_MESSAGE));
  }
  if (idle.length > 0) {
    // Marks the resend on the items, so the next sweep waits a full period for them.
    await deps.db
      .updateTable('classification_items')
      .set((eb) => ({ status: eb.ref('status') }))
      .where((eb) =>
        eb.or(
          idle.map((item) =>
            eb.and([
              eb('job_id', '=', item.job_id),
              eb('record_id', '=', item.record_id),
              eb('scheme_id', '=', item.scheme_id),
            ]),
          ),
        ),
      )
      .execute();
  }
  if (messages.length > 0) await deps.queue.send(deps.settings.classifyQueue, messages);
  return { jobs_resent: planning.length, items_resent: idle.length };
}

/**
 * Every open provider batch (batch mode) gets an `advance_batch`: the sweep is what polls them,
 * one look per sweep, and what resubmits one whose first message was lost or cancels one whose
 * job stopped. Oldest first (a look marks the row), at most {@link SWEEP_LIMIT} a sweep.
 */
async function pollBatches(deps: MaintenanceDeps): Promise<number> {
  const open = await deps.db
    .selectFrom('classification_batches')
    .select(['id', 'job_id'])
    .where('status', 'in', ['preparing', 'submitted'])
    .orderBy('updated_at')
    .limit(SWEEP_LIMIT)
    .execute();
  const messages: AdvanceBatch[] = open.map((b) => ({
    kind: 'advance_batch',
    job_id: b.job_id,
    batch_id: b.id,
  }));
  if (messages.length > 0) await deps.queue.send(deps.settings.classifyQueue, messages);
  return messages.length;
}

/** Datasources still `awaiting_upload` an hour after their presigned form expired. */
async function expireUploads(deps: MaintenanceDeps): Promise<number> {
  const before = new Date(Date.now() - (deps.settings.uploadUrlExpireSeconds + 3600) * 1000);
  const expired = await deps.db
    .updateTable('datasources')
    .set({ status: 'failed', error_message: 'The upload never arrived (its upload form expired)' })
    .where('status', '=', 'awaiting_upload')
    .where('created_at', '<', before)
    .returning('id')
    .execute();
  return expired.length;
}

/**
 * Task runs still `running` with no change for too long. A run without a job is sent again (its
 * steps are idempotent, and its firing's key finds the same run); a run whose job ended is
 * settled by the dispatcher when its `run_task` comes back.
 */
async function resendStuckTaskRuns(deps: MaintenanceDeps): Promise<number> {
  const stuck = await deps.db
    .updateTable('task_runs')
    // A no-op change: the updated_at trigger marks the resend, so the next sweep waits a full period.
    .set((eb) => ({ status: eb.ref('status') }))
    .where('id', 'in', (eb) =>
      eb
        .selectFrom('task_runs')
        .select('id')
        .where('status', '=', 'running')
        .where('updated_at', '<', stuckBefore(deps))
        .limit(SWEEP_LIMIT),
    )
    .returning(['task_id', 'scheduled_for', 'trigger'])
    .execute();
  const messages: RunTask[] = stuck.map((r) => ({
    kind: 'run_task',
    task_id: r.task_id,
    scheduled_for: r.scheduled_for.toISOString(),
    trigger: r.trigger,
  }));
  if (messages.length > 0) await deps.queue.send(deps.settings.taskQueue, messages);
  return messages.length;
}
