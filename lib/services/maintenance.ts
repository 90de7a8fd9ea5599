import type { Logger } from '@aws-lambda-powertools/logger';
import type { Db } from '#lib/db/database.ts';
import type { ProcessDatasource } from '#lib/ingest/messages.ts';
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
  };
};

/** What one sweep found and did, for the log and the tests. */
export type SweepReport = {
  datasources_resent: number;
  uploads_expired: number;
  task_runs_resent: number;
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
    uploads_expired: await expireUploads(deps),
    task_runs_resent: await resendStuckTaskRuns(deps),
  };
  deps.log.info('Maintenance sweep', report);
  return report;
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
