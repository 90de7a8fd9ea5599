import type { Logger } from '@aws-lambda-powertools/logger';
import { sql } from 'kysely';
import { chooseModel } from '#lib/classify/providers.ts';
import type { Db } from '#lib/db/database.ts';
import type { RecurringTask, TaskRun, TaskRunStatus } from '#lib/db/schema.ts';
import { DomainError, ValidationError } from '#lib/errors.ts';
import { dispatchOutbox, recordEvents } from '#lib/events/outbox.ts';
import { ClassifyConfiguration, IngestConfiguration } from '#lib/http/schemas/tasks.ts';
import { newId } from '#lib/ids.ts';
import { contentHash } from '#lib/ingest/content-hash.ts';
import { IngestError } from '#lib/ingest/errors.ts';
import { normalizeUrl } from '#lib/ingest/urls.ts';
import type { EventPublisher } from '#lib/ports/events/publisher.ts';
import type { LlmProviders } from '#lib/ports/llm/index.ts';
import type { QueueSender } from '#lib/ports/queue/queue.ts';
import type { TaskScheduler } from '#lib/ports/scheduler/scheduler.ts';
import { type RunTask, TaskMessage } from '#lib/schedule/messages.ts';
import { insertJob } from './jobs.ts';
import { type MaintenanceDeps, sweep } from './maintenance.ts';
import { indexRecords } from './record-search.ts';
import { scheduleOf } from './recurring-tasks.ts';

// The scraper, the feed reader and webhook delivery (undici, cheerio) are most of the
// dispatcher's bundle, and most messages (sweeps, the outbox) fetch nothing: each is loaded by
// the first message that needs it (a chunk of its own in the bundle, infra/bundling.ts).
const deliverWebhook: typeof import('#lib/events/webhook-delivery.ts').deliverWebhook = async (...args) =>
  (await import('#lib/events/webhook-delivery.ts')).deliverWebhook(...args);
const fetchFeedLinks: typeof import('#lib/ingest/feeds.ts').fetchFeedLinks = async (...args) =>
  (await import('#lib/ingest/feeds.ts')).fetchFeedLinks(...args);
const scrapeUrl: typeof import('#lib/ingest/scrape.ts').scrapeUrl = async (...args) =>
  (await import('#lib/ingest/scrape.ts')).scrapeUrl(...args);

export type TaskRunDeps = {
  db: Db;
  queue: QueueSender;
  scheduler: TaskScheduler;
  providers: LlmProviders;
  /** Where lifecycle events go besides webhooks (the stack's bus in aws). */
  events: EventPublisher;
  log: Logger;
  settings: MaintenanceDeps['settings'] & {
    maxConsecutiveFailures: number;
    scraperAllowPrivateHosts: boolean;
    webhooks: { maxAttempts: number; retryBaseSeconds: number; disableAfterFailures: number };
    /** New pages one ingest run scrapes at most; the rest wait for the next run. */
    maxUrlsPerRun?: number;
  };
};

const MAX_URLS_PER_RUN = 200;
const SCRAPE_CONCURRENCY = 4;
/** Failures kept on a run with their reasons (the count is always exact). */
const FAILURES_KEPT = 100;

/** A message of the task queue that can never be handled: retried, then dead-lettered. */
export class PoisonTaskMessageError extends Error {
  override name = 'PoisonTaskMessageError';
}

/**
 * Handles one message of the task queue (a firing, a manual run). Idempotent: a run is keyed by
 * (task, scheduled_for), so a duplicated firing finds its run and stops; a redelivery of a run
 * that did not finish carries it on, every step of it being safe to repeat.
 */
export async function handleTaskMessage(deps: TaskRunDeps, body: string): Promise<void> {
  let message: TaskMessage;
  try {
    message = TaskMessage.parse(JSON.parse(body));
  } catch (cause) {
    throw new PoisonTaskMessageError('Not a task message', { cause });
  }
  switch (message.kind) {
    case 'run_task':
      await runTask(deps, message);
      return dispatchAfter(deps);
    case 'job_finished':
      await settleRunsOfJob(deps, message.job_id);
      return dispatchAfter(deps);
    case 'publish_events':
      await dispatchOutbox(deps);
      return;
    case 'deliver_webhook':
      return deliverWebhook(deps, message);
    default:
      await sweep(deps);
  }
}

/**
 * Publishes the events a run's end recorded, here rather than through another message. Its
 * failure is not the run's: the events stay in the outbox for the next dispatch or sweep.
 */
async function dispatchAfter(deps: TaskRunDeps): Promise<void> {
  await dispatchOutbox(deps).catch((error: Error) =>
    deps.log.warn('Events not published yet; the sweep sends them', { error }),
  );
}

async function runTask(deps: TaskRunDeps, message: RunTask): Promise<void> {
  const { db, log } = deps;
  const task = await db
    .selectFrom('recurring_tasks')
    .selectAll()
    .where('id', '=', message.task_id)
    // A workspace marked deleted is deleted already for its tasks (lib/services/deletes.ts).
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('workspaces')
            .select('id')
            .whereRef('workspaces.id', '=', 'recurring_tasks.workspace_id')
            .where('deleted_at', 'is not', null),
        ),
      ),
    )
    .executeTakeFirst();
  if (!task) {
    // Deleted with its workspace or owner (a cascade the scheduler never heard of): its schedule
    // is removed at its first firing after.
    if (message.trigger === 'schedule') await deps.scheduler.remove(message.task_id);
    log.info('Firing of a deleted task ignored', { task_id: message.task_id });
    return;
  }
  // A firing already on its way when the task was paused or auto-paused.
  if (message.trigger === 'schedule' && task.status !== 'active') {
    log.info('Firing of an inactive task ignored', { task_id: task.id, status: task.status });
    return;
  }
  const run = await startRun(db, task, message);
  if (!run) return;
  const earlier = await db
    .selectFrom('task_runs')
    .select('id')
    .where('task_id', '=', task.id)
    .where('status', '=', 'running')
    .where('scheduled_for', '<', run.scheduled_for)
    .executeTakeFirst();
  if (earlier) {
    await settleRun(deps, task, run, { status: 'skipped', message: 'Previous run still running' });
    return;
  }
  if (task.type === 'ingest') await runIngest(deps, task, run);
  else await runClassify(deps, task, run);
}

/**
 * The run of this firing: a new one, or the same run when a redelivery finds it unfinished.
 * Undefined when the firing was handled already (a duplicate).
 */
async function startRun(db: Db, task: RecurringTask, message: RunTask): Promise<TaskRun | undefined> {
  const scheduledFor = new Date(message.scheduled_for);
  const created = await db
    .insertInto('task_runs')
    .values({
      id: newId(),
      task_id: task.id,
      workspace_id: task.workspace_id,
      scheduled_for: scheduledFor,
      trigger: message.trigger,
      status: 'running',
      message: null,
      job_id: null,
      finished_at: null,
    })
    .onConflict((oc) => oc.columns(['task_id', 'scheduled_for']).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (created) return created;
  const existing = await db
    .selectFrom('task_runs')
    .selectAll()
    .where('task_id', '=', task.id)
    .where('scheduled_for', '=', scheduledFor)
    .executeTakeFirst();
  return existing?.status === 'running' ? existing : undefined;
}

export type RunOutcome = {
  status: Exclude<TaskRunStatus, 'running'>;
  message: string;
  counts?: Record<string, unknown>;
  jobId?: string | null;
};

/**
 * Ends a run and updates its task in one transaction: last run, failures in a row (a failure
 * counts once: only a run still `running` is settled), and the auto-pause after
 * `maxConsecutiveFailures`, which disables the schedule before the transaction commits (a
 * refusing scheduler rolls it back, and the message is retried).
 */
export async function settleRun(
  deps: Pick<TaskRunDeps, 'db' | 'scheduler' | 'log' | 'settings'>,
  task: Pick<RecurringTask, 'id'>,
  run: Pick<TaskRun, 'id' | 'started_at'>,
  outcome: RunOutcome,
): Promise<void> {
  await deps.db.transaction().execute(async (trx) => {
    const settled = await trx
      .updateTable('task_runs')
      .set({
        status: outcome.status,
        message: outcome.message,
        finished_at: sql<Date>`clock_timestamp()`,
        ...(outcome.counts && { counts: JSON.stringify(outcome.counts) }),
        ...(outcome.jobId !== undefined && { job_id: outcome.jobId }),
      })
      .where('id', '=', run.id)
      .where('status', '=', 'running')
      .returning(['id', 'task_id', 'workspace_id', 'job_id', 'counts'])
      .executeTakeFirst();
    if (!settled) return;
    await recordEvents(trx, [
      {
        type: 'task_run.finished',
        workspace_id: settled.workspace_id,
        data: {
          task_run_id: settled.id,
          task_id: settled.task_id,
          job_id: settled.job_id,
          status: outcome.status,
          reason: outcome.message,
          counts: settled.counts,
        },
      },
    ]);
    const failed = outcome.status === 'failed';
    const updated = await trx
      .updateTable('recurring_tasks')
      .set((eb) => ({
        last_run_at: run.started_at,
        last_run_status: outcome.status,
        last_run_message: outcome.message,
        ...(outcome.jobId && { last_job_id: outcome.jobId }),
        ...(outcome.status === 'succeeded' && {
          last_successful_run_at: run.started_at,
          consecutive_failures: 0,
        }),
        ...(failed && { consecutive_failures: eb('consecutive_failures', '+', 1) }),
      }))
      .where('id', '=', task.id)
      .returningAll()
      .executeTakeFirst();
    if (!updated || !failed || updated.status !== 'active') return;
    if (updated.consecutive_failures < deps.settings.maxConsecutiveFailures) return;
    const reason = `Paused after ${updated.consecutive_failures} failed runs in a row; last: ${outcome.message}`;
    await trx
      .updateTable('recurring_tasks')
      .set({ status: 'error', status_reason: reason })
      .where('id', '=', task.id)
      .execute();
    await deps.scheduler.disable({ taskId: task.id, ...scheduleOf(updated) });
    deps.log.warn('Recurring task paused after repeated failures', { task_id: task.id });
  });
}

type UrlFailure = { url: string; reason: string };

/**
 * An ingest run: the task's pages and its feeds' items that the target datasource does not
 * have yet become records of it (marked with the task and run), each URL once whatever the
 * redeliveries. Every URL that failed is listed on the run with its reason.
 */
async function runIngest(deps: TaskRunDeps, task: RecurringTask, run: TaskRun): Promise<void> {
  const { db } = deps;
  const config = IngestConfiguration.parse(task.configuration);
  const target = await db
    .selectFrom('datasources')
    .select(['id', 'workspace_id'])
    .where('id', '=', config.target_datasource_id)
    .where('workspace_id', '=', task.workspace_id)
    .where('status', '!=', 'deleting')
    .executeTakeFirst();
  if (!target) {
    await settleRun(deps, task, run, { status: 'failed', message: 'The target datasource no longer exists' });
    return;
  }
  const guard = { allowPrivateHosts: deps.settings.scraperAllowPrivateHosts };
  const failures: UrlFailure[] = [];
  const candidates = new Set<string>();
  const add = (url: string) => {
    try {
      candidates.add(normalizeUrl(url));
    } catch (error) {
      failures.push({ url, reason: (error as IngestError).reason ?? 'Invalid URL' });
    }
  };
  config.source_urls.forEach(add);
  for (const feed of config.feeds) {
    try {
      (await fetchFeedLinks(feed, guard)).forEach(add);
    } catch (error) {
      if (!(error instanceof IngestError)) throw error;
      failures.push({ url: feed, reason: `Feed: ${error.reason}` });
    }
  }
  const present = new Set(
    candidates.size === 0
      ? []
      : (
          await db
            .selectFrom('records')
            .select('source_key')
            .where('datasource_id', '=', target.id)
            .where('source_key', 'in', [...candidates])
            .execute()
        ).map((r) => r.source_key),
  );
  const todo = [...candidates].filter((url) => !present.has(url));
  const limit = deps.settings.maxUrlsPerRun ?? MAX_URLS_PER_RUN;
  let added = 0;
  for (let i = 0; i < Math.min(todo.length, limit); i += SCRAPE_CONCURRENCY) {
    const slice = todo.slice(i, Math.min(i + SCRAPE_CONCURRENCY, limit));
    const outcomes = await Promise.all(
      slice.map(async (url) => {
        try {
          const page = await scrapeUrl(url, guard);
          const inserted = await db.transaction().execute(async (trx) => {
            const row = await trx
              .insertInto('records')
              .values({
                id: newId(),
                workspace_id: target.workspace_id,
                datasource_id: target.id,
                source_key: url,
                title: page.title,
                text_content: page.text,
                source_metadata: JSON.stringify({
                  url,
                  final_url: page.finalUrl,
                  content_type: page.contentType,
                  recurring_task_id: task.id,
                  task_run_id: run.id,
                }),
                event_timestamp: page.publishedAt,
                content_hash: contentHash(page.text),
              })
              .onConflict((oc) => oc.columns(['datasource_id', 'source_key']).doNothing())
              .returning('id')
              .executeTakeFirst();
            if (row) await indexRecords(trx, { datasourceId: target.id, ids: [row.id] });
            return row;
          });
          return inserted ? 1 : 0;
        } catch (error) {
          if (!(error instanceof IngestError)) throw error;
          failures.push({ url, reason: error.reason });
          return 0;
        }
      }),
    );
    added += outcomes.reduce<number>((sum, n) => sum + n, 0);
  }
  // Records of this run counted from the table: a redelivered run counts what it added before too.
  const runRecords = await db
    .selectFrom('records')
    .select(sql<number>`count(*)::int`.as('n'))
    .where('datasource_id', '=', target.id)
    .where(sql<boolean>`source_metadata->>'task_run_id' = ${run.id}`)
    .executeTakeFirstOrThrow();
  await db
    .updateTable('datasources')
    .set({
      record_count: (eb) =>
        eb
          .selectFrom('records')
          .select(sql<number>`count(*)::int`.as('n'))
          .where('datasource_id', '=', target.id),
    })
    .where('id', '=', target.id)
    .execute();
  const deferred = Math.max(0, todo.length - limit);
  const counts = {
    urls: candidates.size,
    new_records: runRecords.n,
    already_present: present.size,
    deferred,
    failed: failures.length,
    failures: failures.slice(0, FAILURES_KEPT),
  };
  const attempted = Math.min(todo.length, limit);
  const nothingWorked = runRecords.n === 0 && failures.length > 0 && (attempted > 0 || candidates.size === 0);
  const message = [
    `${runRecords.n} new record(s)`,
    `${present.size} already present`,
    ...(failures.length > 0 ? [`${failures.length} failed`] : []),
    ...(deferred > 0 ? [`${deferred} left for the next run`] : []),
  ].join(', ');
  deps.log.info('Ingest run finished', { task_id: task.id, run_id: run.id, added, failed: failures.length });
  await settleRun(deps, task, run, { status: nothingWorked ? 'failed' : 'succeeded', message, counts });
}

/**
 * A classify run: a job over the chosen datasources' records that arrived since the last
 * successful run (all of them without `process_only_new`), up to the newest record now. The
 * job's id is the run's, so a redelivered firing finds the job it made instead of making a
 * second. The run ends when the job does ({@link settleRunsOfJob}).
 */
async function runClassify(deps: TaskRunDeps, task: RecurringTask, run: TaskRun): Promise<void> {
  const { db } = deps;
  const config = ClassifyConfiguration.parse(task.configuration);
  const existing = await db
    .selectFrom('classification_jobs')
    .select('id')
    .where('id', '=', run.id)
    .executeTakeFirst();
  if (existing) {
    await linkJob(db, task, run, existing.id, run.counts);
    await settleRunsOfJob(deps, existing.id);
    return;
  }
  if ('records_until' in run.counts) {
    // The run had made its job, and the job was deleted since (its link with it).
    await settleRun(deps, task, run, { status: 'failed', message: 'The job was deleted' });
    return;
  }
  const missing = await missingTargets(db, task.workspace_id, config);
  if (missing) {
    await settleRun(deps, task, run, { status: 'failed', message: missing });
    return;
  }
  const after = config.process_only_new ? await lastWatermark(db, task.id) : undefined;
  const fresh = await db
    .selectFrom('records')
    .select([sql<string | null>`max(id::text)`.as('until'), sql<number>`count(*)::int`.as('n')])
    .where('workspace_id', '=', task.workspace_id)
    .where('datasource_id', 'in', config.datasource_ids)
    .$if(after !== undefined, (q) => q.where('id', '>', after!))
    .executeTakeFirstOrThrow();
  if (!fresh.until) {
    await settleRun(deps, task, run, { status: 'skipped', message: 'No new records' });
    return;
  }
  let model: { provider: string; model: string };
  try {
    model = chooseModel(deps.providers, config.provider, config.model);
  } catch (error) {
    const reason =
      error instanceof ValidationError
        ? (error.errors[0]?.message ?? error.message)
        : error instanceof DomainError
          ? error.message
          : String(error);
    await settleRun(deps, task, run, { status: 'failed', message: `No model to classify with: ${reason}` });
    return;
  }
  const job = await insertJob(
    db,
    deps.queue,
    task.workspace_id,
    {
      name: jobName(config.job_name_template, task, run),
      description: `Run ${run.id} of recurring task ${task.id}`,
      scheme_ids: config.scheme_ids,
      datasource_ids: config.datasource_ids,
      ...model,
      options: { ...(after && { record_id_after: after }), record_id_until: fresh.until },
    },
    { classifyQueue: deps.settings.classifyQueue },
    { id: run.id },
  );
  await linkJob(db, task, run, job.id, {
    records: fresh.n,
    records_after: after ?? null,
    records_until: fresh.until,
  });
}

async function linkJob(
  db: Db,
  task: RecurringTask,
  run: TaskRun,
  jobId: string,
  counts: Record<string, unknown>,
) {
  await db
    .updateTable('task_runs')
    .set({ job_id: jobId, counts: JSON.stringify(counts) })
    .where('id', '=', run.id)
    .execute();
  await db.updateTable('recurring_tasks').set({ last_job_id: jobId }).where('id', '=', task.id).execute();
}

/** A reason when a datasource or scheme of the task is gone (422 at creation; deleted since). */
async function missingTargets(db: Db, workspaceId: string, config: ClassifyConfiguration) {
  for (const [table, ids, what] of [
    ['datasources', config.datasource_ids, 'datasource'],
    ['classification_schemes', config.scheme_ids, 'scheme'],
  ] as const) {
    const found = await db
      .selectFrom(table)
      .select(sql<number>`count(*)::int`.as('n'))
      .where('workspace_id', '=', workspaceId)
      .where('id', 'in', ids)
      .executeTakeFirstOrThrow();
    if (found.n < ids.length) return `A ${what} of the task no longer exists; edit its configuration`;
  }
  return undefined;
}

/** The newest record the last successful run covered: the next run starts after it. */
async function lastWatermark(db: Db, taskId: string): Promise<string | undefined> {
  const last = await db
    .selectFrom('task_runs')
    .select(sql<string | null>`counts->>'records_until'`.as('until'))
    .where('task_id', '=', taskId)
    .where('status', '=', 'succeeded')
    .where(sql<boolean>`counts ? 'records_until'`)
    .orderBy('id', 'desc')
    .executeTakeFirst();
  return last?.until ?? undefined;
}

function jobName(template: string, task: RecurringTask, run: TaskRun): string {
  const at = run.scheduled_for.toISOString();
  return template
    .replaceAll('{task_name}', task.name)
    .replaceAll('{timestamp}', at.replace(/\.\d{3}Z$/, 'Z'))
    .replaceAll('{date}', at.slice(0, 10))
    .slice(0, 255);
}

/** What a job's end means for the run that made it. */
function outcomeOfJob(job: {
  id: string;
  status: string;
  error_message: string | null;
}): RunOutcome | undefined {
  switch (job.status) {
    case 'completed':
      return { status: 'succeeded', message: 'Job completed', jobId: job.id };
    case 'completed_with_errors':
      return { status: 'succeeded', message: 'Job completed with errors (see its failures)', jobId: job.id };
    case 'failed':
    case 'cancelled':
    case 'budget_exceeded':
      return {
        status: 'failed',
        message: `Job ${job.status}${job.error_message ? `: ${job.error_message}` : ''}`,
        jobId: job.id,
      };
    default:
      return undefined;
  }
}

/** Settles the runs waiting on a job once it has ended; nothing while it runs. */
export async function settleRunsOfJob(
  deps: Pick<TaskRunDeps, 'db' | 'scheduler' | 'log' | 'settings'>,
  jobId: string,
) {
  const job = await deps.db
    .selectFrom('classification_jobs')
    .select(['id', 'status', 'error_message'])
    .where('id', '=', jobId)
    .executeTakeFirst();
  const runs = await deps.db
    .selectFrom('task_runs')
    .selectAll()
    .where('job_id', '=', jobId)
    .where('status', '=', 'running')
    .execute();
  // A job deleted under its run ends the run too.
  const outcome = job ? outcomeOfJob(job) : ({ status: 'failed', message: 'The job was deleted' } as const);
  if (!outcome) return;
  for (const run of runs) {
    await settleRun(deps, { id: run.task_id }, run, { ...outcome, counts: run.counts });
  }
}

/** Fails the run of a dead-lettered firing (counted as one failure of its task). */
export async function failDeadTaskMessage(
  deps: Pick<TaskRunDeps, 'db' | 'scheduler' | 'log' | 'settings'>,
  body: string,
): Promise<void> {
  let message: TaskMessage;
  try {
    message = TaskMessage.parse(JSON.parse(body));
  } catch {
    return;
  }
  if (message.kind !== 'run_task') return;
  const run = await deps.db
    .selectFrom('task_runs')
    .selectAll()
    .where('task_id', '=', message.task_id)
    .where('scheduled_for', '=', new Date(message.scheduled_for))
    .executeTakeFirst();
  if (!run) return;
  await settleRun(deps, { id: run.task_id }, run, {
    status: 'failed',
    message: 'The run failed after every retry',
  });
}
