import { sql } from 'kysely';
import type { AdvanceBatch, PlanJob } from '#lib/classify/messages.ts';
import type { Db } from '#lib/db/database.ts';
import { keysetPage } from '#lib/db/paging.ts';
import type { ClassificationJob, JobMode, JobStatus, User } from '#lib/db/schema.ts';
import { limitTransaction } from '#lib/db/statement-timeout.ts';
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '#lib/errors.ts';
import { jobFinished } from '#lib/events/lifecycle.ts';
import { recordEvents } from '#lib/events/outbox.ts';
import type { Paging } from '#lib/http/schemas/common.ts';
import { newId } from '#lib/ids.ts';
import type { QueueSender } from '#lib/ports/queue/queue.ts';
import { idsNotInWorkspace, refuseDeletingDatasources, requireWorkspace } from './access.ts';
import { itemCounts } from './job-events.ts';
import { USAGE_SUMS } from './usage.ts';

export type Progress = {
  total: number;
  succeeded: number;
  failed: number;
  pending: number;
  cancelled: number;
};

/** What a job's provider calls used: every billed call, its retries and repair turns included. */
export type JobUsage = {
  calls: number;
  input_tokens: number;
  cached_input_tokens: number;
  output_tokens: number;
  /** Null when a call's model had no configured price. */
  cost_usd: number | null;
};

export type JobOut = {
  id: string;
  workspace_id: string;
  name: string;
  description: string | null;
  status: JobStatus;
  scheme_ids: string[];
  datasource_ids: string[];
  record_ids: string[];
  provider: string;
  model: string;
  mode: JobMode;
  options: Record<string, unknown>;
  error_message: string | null;
  progress: Progress;
  usage: JobUsage;
  created_at: string;
  updated_at: string;
  finished_at: string | null;
  planned: boolean;
  // What the reference system's clients read, from the same facts.
  user_id: string | null;
  configuration: {
    scheme_ids: string[];
    datasource_ids: string[];
    record_ids: string[];
    llm_provider: string;
    llm_model: string;
  };
  target_scheme_ids: string[];
  target_datasource_ids: string[];
  /** Results stored so far (the succeeded items). */
  result_count: number;
  /** Records the job covers so far (final once planned). */
  datarecord_count: number;
};

export function toJobOut(job: ClassificationJob, progress: Progress, usage: JobUsage): JobOut {
  return {
    id: job.id,
    workspace_id: job.workspace_id,
    name: job.name,
    description: job.description,
    status: job.status,
    scheme_ids: job.scheme_ids,
    datasource_ids: job.datasource_ids,
    record_ids: job.record_ids,
    provider: job.provider,
    model: job.model,
    mode: job.mode,
    options: job.options,
    error_message: job.error_message,
    progress,
    usage,
    created_at: job.created_at.toISOString(),
    updated_at: job.updated_at.toISOString(),
    finished_at: job.finished_at?.toISOString() ?? null,
    planned: job.planned_at !== null,
    user_id: job.user_id,
    configuration: {
      scheme_ids: job.scheme_ids,
      datasource_ids: job.datasource_ids,
      record_ids: job.record_ids,
      llm_provider: job.provider,
      llm_model: job.model,
    },
    target_scheme_ids: job.scheme_ids,
    target_datasource_ids: job.datasource_ids,
    result_count: progress.succeeded,
    datarecord_count: job.planned_records,
  };
}

/** Counts of each job's work items by status, in one query. */
export async function jobsProgress(db: Db, jobIds: string[]): Promise<Map<string, Progress>> {
  const progress = new Map<string, Progress>(
    jobIds.map((id) => [id, { total: 0, succeeded: 0, failed: 0, pending: 0, cancelled: 0 }]),
  );
  if (jobIds.length === 0) return progress;
  const rows = await db
    .selectFrom('classification_items')
    .select(['job_id', 'status', sql<number>`count(*)::int`.as('n')])
    .where('job_id', 'in', jobIds)
    .groupBy(['job_id', 'status'])
    .execute();
  for (const r of rows) {
    const p = progress.get(r.job_id)!;
    p[r.status] = r.n;
    p.total += r.n;
  }
  return progress;
}

/** Counts of a job's work items by status. */
export async function jobProgress(db: Db, jobId: string): Promise<Progress> {
  return (await jobsProgress(db, [jobId])).get(jobId)!;
}

/** Each job's summed usage, in one query (a list page's worth of jobs). */
export async function jobsUsage(db: Db, jobIds: string[]): Promise<Map<string, JobUsage>> {
  const usage = new Map<string, JobUsage>(
    jobIds.map((id) => [
      id,
      { calls: 0, input_tokens: 0, cached_input_tokens: 0, output_tokens: 0, cost_usd: 0 },
    ]),
  );
  if (jobIds.length === 0) return usage;
  const rows = await db
    .selectFrom('llm_usage')
    .select(['job_id', ...USAGE_SUMS])
    .where('job_id', 'in', jobIds)
    .groupBy('job_id')
    .execute();
  for (const { job_id, ...sums } of rows) usage.set(job_id!, sums);
  return usage;
}

/** A job as the API shows it, with its progress and usage. */
export async function jobOut(db: Db, job: ClassificationJob): Promise<JobOut> {
  // One after the other: `db` may be a transaction, which runs one statement at a time.
  const progress = await jobsProgress(db, [job.id]);
  const usage = await jobsUsage(db, [job.id]);
  return toJobOut(job, progress.get(job.id)!, usage.get(job.id)!);
}

export type JobInput = {
  name: string;
  description?: string | null | undefined;
  scheme_ids: string[];
  datasource_ids?: string[] | undefined;
  record_ids?: string[] | undefined;
  provider: string;
  model: string;
  /** online by default; batch: the provider's batch API (lib/services/classify-batch.ts). */
  mode?: JobMode | undefined;
  options: {
    temperature?: number | undefined;
    max_records?: number | undefined;
    /** Budgets: the worker stops the job (budget_exceeded) once its calls reach either. */
    max_cost_usd?: number | undefined;
    max_tokens?: number | undefined;
    /** A record's schemes in one call where they fit (the default), or one call per scheme (false). */
    combine_schemes?: boolean | undefined;
    /** Only records with a greater id (UUIDv7: created later), e.g. those new since a recurring task's last run. */
    record_id_after?: string | undefined;
    /** Only records with an id up to this one; by default those that exist when the job is created. */
    record_id_until?: string | undefined;
  };
};

export type JobSettings = { classifyQueue: string };

/** Each statement of a request's transaction: well below the API function's 15 s. */
const API_STATEMENT_MS = 10_000;

/** 422 naming each id of `ids` that is not a `table` row of the workspace. */
export async function checkIds(
  db: Db,
  workspaceId: string,
  table: 'classification_schemes' | 'datasources' | 'records',
  ids: string[],
  path: string,
) {
  const errors = await idsNotInWorkspace(db, workspaceId, table, ids, path);
  if (errors.length > 0) throw new ValidationError(errors);
}

/**
 * Creates a job after checking every id belongs to the workspace (422 naming the ones that do
 * not). Bounded work: the job row and its `plan_job` message; the planner creates the work
 * items afterwards, a chunk at a time, so `progress.total` grows until the job is `planned`.
 */
export async function createJob(
  db: Db,
  queue: QueueSender,
  user: Pick<User, 'id'>,
  workspaceId: string,
  input: JobInput,
  settings: JobSettings,
): Promise<ClassificationJob> {
  await requireWorkspace(db, user, workspaceId);
  await checkIds(db, workspaceId, 'classification_schemes', input.scheme_ids, 'scheme_ids');
  await checkIds(db, workspaceId, 'datasources', input.datasource_ids ?? [], 'datasource_ids');
  await refuseDeletingDatasources(db, input.datasource_ids);
  await checkIds(db, workspaceId, 'records', input.record_ids ?? [], 'record_ids');
  return insertJob(db, queue, workspaceId, input, settings);
}

/**
 * Inserts a job (`pending`) and queues its planning, without checking who asks or whether the
 * ids exist (callers do: {@link createJob}, recurring tasks). With `id`, idempotent: a second
 * call with the same id makes no second job and returns the first, re-sending its `plan_job`
 * only if its planning never started (the first call's message may be what was lost).
 * The target is fixed here: records up to `record_id_until`, by default an id of now.
 */
export async function insertJob(
  db: Db,
  queue: QueueSender,
  workspaceId: string,
  input: JobInput,
  settings: JobSettings,
  { id }: { id?: string } = {},
): Promise<ClassificationJob> {
  const { job, created } = await db.transaction().execute(async (trx) => {
    await limitTransaction(trx, API_STATEMENT_MS);
    const inserted = await trx
      .insertInto('classification_jobs')
      .values({
        id: id ?? newId(),
        workspace_id: workspaceId,
        name: input.name,
        description: input.description ?? null,
        status: 'pending',
        scheme_ids: input.scheme_ids,
        datasource_ids: input.datasource_ids ?? [],
        record_ids: input.record_ids ?? [],
        provider: input.provider,
        model: input.model,
        mode: input.mode ?? 'online',
        options: JSON.stringify(input.options),
        plan_until: input.options.record_id_until ?? newId(),
      })
      .onConflict((oc) => oc.column('id').doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) return { job: inserted, created: true };
    const existing = await trx
      .selectFrom('classification_jobs')
      .selectAll()
      .where('id', '=', id!)
      .executeTakeFirstOrThrow();
    if (existing.workspace_id !== workspaceId)
      throw new ConflictError('A job with this id exists in another workspace');
    return { job: existing, created: false };
  });
  if (created || (job.status === 'pending' && job.plan_cursor === null && job.planned_at === null))
    await queueOrFail(db, queue, settings, job.id);
  return job;
}

/** Queues a job's planning after its row committed; a refusing queue fails the job (503). */
async function queueOrFail(db: Db, queue: QueueSender, settings: JobSettings, jobId: string): Promise<void> {
  const message: PlanJob = { kind: 'plan_job', job_id: jobId };
  try {
    await queue.send(settings.classifyQueue, [message]);
  } catch (cause) {
    await db
      .updateTable('classification_jobs')
      .set({ status: 'failed', error_message: 'The job could not be queued; retry it' })
      .where('id', '=', jobId)
      .execute();
    throw new UnavailableError('The classify queue is unavailable; try again', {
      cause,
    });
  }
}

/** A job of the caller's workspace, or 404. */
export async function requireJob(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  jobId: string,
): Promise<ClassificationJob> {
  await requireWorkspace(db, user, workspaceId);
  const job = await db
    .selectFrom('classification_jobs')
    .selectAll()
    .where('id', '=', jobId)
    .where('workspace_id', '=', workspaceId)
    .executeTakeFirst();
  if (!job) throw new NotFoundError('Classification job not found');
  return job;
}

export async function listJobs(db: Db, user: Pick<User, 'id'>, workspaceId: string, paging: Paging) {
  await requireWorkspace(db, user, workspaceId);
  const page = await keysetPage<ClassificationJob>(
    db.selectFrom('classification_jobs').where('workspace_id', '=', workspaceId),
    paging,
  );
  const ids = page.data.map((j) => j.id);
  const progress = await jobsProgress(db, ids);
  const usage = await jobsUsage(db, ids);
  const data = page.data.map((j) => toJobOut(j, progress.get(j.id)!, usage.get(j.id)!));
  return { ...page, data };
}

const FINISHED: JobStatus[] = [
  'completed',
  'completed_with_errors',
  'failed',
  'cancelled',
  'budget_exceeded',
];

/** Cancels a job: work not yet done is dropped (in-flight items finish or are skipped). */
export async function cancelJob(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  jobId: string,
): Promise<ClassificationJob> {
  const job = await requireJob(db, user, workspaceId, jobId);
  if (FINISHED.includes(job.status)) throw new ConflictError(`The job is already ${job.status}`);
  return db.transaction().execute(async (trx) => {
    // The job first: its row waits for a planner chunk in progress, whose items the next
    // statement then sees and cancels (a later chunk finds the job cancelled and adds none).
    const cancelled = await trx
      .updateTable('classification_jobs')
      .set({ status: 'cancelled', finished_at: sql<Date>`clock_timestamp()` })
      .where('id', '=', jobId)
      .returningAll()
      .executeTakeFirstOrThrow();
    await trx
      .updateTable('classification_items')
      .set({ status: 'cancelled' })
      .where('job_id', '=', jobId)
      .where('status', '=', 'pending')
      .execute();
    await recordEvents(trx, [jobFinished(cancelled, await itemCounts(trx, jobId))]);
    return cancelled;
  });
}

/** The messages that move a job's open batches (after a cancel: they cancel them at the provider). */
export async function openBatchMessages(db: Db, jobId: string): Promise<AdvanceBatch[]> {
  const open = await db
    .selectFrom('classification_batches')
    .select('id')
    .where('job_id', '=', jobId)
    .where('status', 'in', ['preparing', 'submitted'])
    .execute();
  return open.map((b) => ({ kind: 'advance_batch', job_id: jobId, batch_id: b.id }));
}

/** What a client may change of a job besides cancelling it: its name and description. */
export async function renameJob(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  jobId: string,
  changes: { name?: string | undefined; description?: string | null | undefined },
): Promise<ClassificationJob> {
  const job = await requireJob(db, user, workspaceId, jobId);
  const values: { name?: string; description?: string | null } = {};
  if (changes.name !== undefined) values.name = changes.name;
  if (changes.description !== undefined) values.description = changes.description;
  if (Object.keys(values).length === 0) return job;
  return db
    .updateTable('classification_jobs')
    .set(values)
    .where('id', '=', jobId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Runs the failed items of a finished job again (and only them), sends out the pending items
 * of a job whose planning message was lost, and resumes the planning of a job that failed
 * during it. Bounded work: the job is marked running and its planner walks it again from the
 * start, putting failed items back to pending a chunk at a time.
 */
export async function retryJob(
  db: Db,
  queue: QueueSender,
  user: Pick<User, 'id'>,
  workspaceId: string,
  jobId: string,
  settings: JobSettings,
): Promise<ClassificationJob> {
  const job = await requireJob(db, user, workspaceId, jobId);
  if (job.status === 'running') throw new ConflictError('The job is still running');
  const retried = await db.transaction().execute(async (trx) => {
    await limitTransaction(trx, API_STATEMENT_MS);
    const locked = await trx
      .selectFrom('classification_jobs')
      .selectAll()
      .where('id', '=', jobId)
      .forUpdate()
      .executeTakeFirstOrThrow(() => new NotFoundError('Classification job not found'));
    if (locked.status === 'running') throw new ConflictError('The job is still running');
    // Failed items, items never sent (a crash between commit and send, or a queue that
    // refused), or planning that never finished.
    const todo = await trx
      .selectFrom('classification_items')
      .select('record_id')
      .where('job_id', '=', jobId)
      .where('status', 'in', ['failed', 'pending'])
      .limit(1)
      .executeTakeFirst();
    const unplanned = locked.planned_at === null && locked.status !== 'cancelled';
    if (!todo && !unplanned) throw new ConflictError('The job has nothing to retry');
    return trx
      .updateTable('classification_jobs')
      .set({ status: 'running', error_message: null, finished_at: null, plan_cursor: null })
      .where('id', '=', jobId)
      .returningAll()
      .executeTakeFirstOrThrow();
  });
  await queueOrFail(db, queue, settings, jobId);
  return retried;
}

export async function deleteJob(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  jobId: string,
): Promise<void> {
  await requireJob(db, user, workspaceId, jobId);
  await db.deleteFrom('classification_jobs').where('id', '=', jobId).execute();
}

/** The failed items of a job with their reasons. */
export async function jobFailures(db: Db, user: Pick<User, 'id'>, workspaceId: string, jobId: string) {
  await requireJob(db, user, workspaceId, jobId);
  const data = await db
    .selectFrom('classification_items')
    .select(['record_id', 'scheme_id', 'reason', 'attempts'])
    .where('job_id', '=', jobId)
    .where('status', '=', 'failed')
    .orderBy('record_id')
    .orderBy('scheme_id')
    .execute();
  return { data: data.map((d) => ({ ...d, reason: d.reason ?? 'unknown' })), count: data.length };
}
