import { sql } from 'kysely';
import type { z } from 'zod';
import { chooseModel } from '#lib/classify/providers.ts';
import type { Db } from '#lib/db/database.ts';
import { toPage } from '#lib/db/paging.ts';
import type { RecurringTask, TaskRun, TaskType, User } from '#lib/db/schema.ts';
import { type FieldError, NotFoundError, UnavailableError, ValidationError } from '#lib/errors.ts';
import type { Paging } from '#lib/http/schemas/common.ts';
import {
  ClassifyConfiguration,
  IngestConfiguration,
  type TaskCreate,
  type TaskUpdate,
} from '#lib/http/schemas/tasks.ts';
import { newId } from '#lib/ids.ts';
import type { LlmProviders } from '#lib/ports/llm/index.ts';
import type { QueueSender } from '#lib/ports/queue/queue.ts';
import type { TaskScheduler } from '#lib/ports/scheduler/scheduler.ts';
import { nextFireTime, parseSchedule, type Schedule } from '#lib/schedule/expression.ts';
import type { RunTask } from '#lib/schedule/messages.ts';
import { idsNotInWorkspace, refuseDeletingDatasources, requireWorkspace } from './access.ts';

export type TaskDeps = {
  db: Db;
  scheduler: TaskScheduler;
  providers: LlmProviders;
  settings: { minIntervalMinutes: number };
};

export type TaskOut = {
  id: string;
  workspace_id: string;
  name: string;
  description: string | null;
  type: TaskType;
  schedule: string;
  schedule_expression: string;
  timezone: string;
  configuration: Record<string, unknown>;
  status: RecurringTask['status'];
  status_reason: string | null;
  last_run_at: string | null;
  last_run_status: RecurringTask['last_run_status'];
  last_run_message: string | null;
  last_successful_run_at: string | null;
  last_job_id: string | null;
  consecutive_failures: number;
  next_run_at: string | null;
  created_at: string;
  updated_at: string;
};

/** The schedule Scheduler (or the local runtime) runs for a task. */
export function scheduleOf(task: Pick<RecurringTask, 'schedule_expression' | 'timezone'>): Schedule {
  return { expression: task.schedule_expression, timezone: task.timezone };
}

export function toTaskOut(task: RecurringTask, now = new Date()): TaskOut {
  const next =
    task.status === 'active' ? nextFireTime(scheduleOf(task), now, task.schedule_anchor) : undefined;
  return {
    id: task.id,
    workspace_id: task.workspace_id,
    name: task.name,
    description: task.description,
    type: task.type,
    schedule: task.schedule,
    schedule_expression: task.schedule_expression,
    timezone: task.timezone,
    configuration: task.configuration,
    status: task.status,
    status_reason: task.status_reason,
    last_run_at: task.last_run_at?.toISOString() ?? null,
    last_run_status: task.last_run_status,
    last_run_message: task.last_run_message,
    last_successful_run_at: task.last_successful_run_at?.toISOString() ?? null,
    last_job_id: task.last_job_id,
    consecutive_failures: task.consecutive_failures,
    next_run_at: next?.toISOString() ?? null,
    created_at: task.created_at.toISOString(),
    updated_at: task.updated_at.toISOString(),
  };
}

export function toTaskRunOut(run: TaskRun) {
  return {
    id: run.id,
    task_id: run.task_id,
    scheduled_for: run.scheduled_for.toISOString(),
    trigger: run.trigger,
    status: run.status,
    message: run.message,
    counts: run.counts,
    job_id: run.job_id,
    started_at: run.started_at.toISOString(),
    finished_at: run.finished_at?.toISOString() ?? null,
  };
}

function checkSchedule(schedule: string, timezone: string, minIntervalMinutes: number): Schedule {
  const parsed = parseSchedule(schedule, timezone, minIntervalMinutes);
  if (parsed.ok) return parsed.schedule;
  const path = parsed.error.includes('time zone') ? 'timezone' : 'schedule';
  throw new ValidationError([{ location: 'body', path, message: parsed.error }]);
}

function zodErrors(error: z.ZodError, prefix: string): FieldError[] {
  return error.issues.map((i) => ({
    location: 'body' as const,
    path: [prefix, ...i.path].join('.'),
    message: i.message,
  }));
}

/**
 * A configuration checked against the task's type and the workspace: every id must be one of
 * its resources of a fitting kind (422 naming the field otherwise).
 */
async function checkConfiguration(
  db: Db,
  providers: LlmProviders,
  workspaceId: string,
  type: TaskType,
  configuration: unknown,
): Promise<Record<string, unknown>> {
  if (type === 'ingest') {
    const parsed = IngestConfiguration.safeParse(configuration);
    if (!parsed.success) throw new ValidationError(zodErrors(parsed.error, 'configuration'));
    const target = await db
      .selectFrom('datasources')
      .select('type')
      .where('id', '=', parsed.data.target_datasource_id)
      .where('workspace_id', '=', workspaceId)
      .executeTakeFirst();
    const problem = !target
      ? 'Not found in this workspace'
      : target.type !== 'url_list' && target.type !== 'url'
        ? `A ${target.type} datasource cannot take scraped pages: choose a url_list or url datasource`
        : undefined;
    if (problem) {
      throw new ValidationError([
        { location: 'body', path: 'configuration.target_datasource_id', message: problem },
      ]);
    }
    await refuseDeletingDatasources(db, parsed.data.target_datasource_id);
    return parsed.data;
  }
  const parsed = ClassifyConfiguration.safeParse(configuration);
  if (!parsed.success) throw new ValidationError(zodErrors(parsed.error, 'configuration'));
  const errors = [
    ...(await idsNotInWorkspace(
      db,
      workspaceId,
      'datasources',
      parsed.data.datasource_ids,
      'configuration.datasource_ids',
    )),
    ...(await idsNotInWorkspace(
      db,
      workspaceId,
      'classification_schemes',
      parsed.data.scheme_ids,
      'configuration.scheme_ids',
    )),
  ];
  if (errors.length > 0) throw new ValidationError(errors);
  await refuseDeletingDatasources(db, parsed.data.datasource_ids);
  chooseModel(providers, parsed.data.provider, parsed.data.model, 'configuration.');
  return parsed.data;
}

/**
 * Runs `change` on the scheduler inside the transaction that wrote the task, so the row commits
 * only once the schedule says the same (a refusing scheduler rolls it back: 503), and two
 * changes of one task reach the scheduler in the order their rows were written.
 */
async function withSchedule(change: () => Promise<void>): Promise<void> {
  try {
    await change();
  } catch (cause) {
    throw new UnavailableError('The scheduler is unavailable; nothing was changed, try again', {
      cause,
    });
  }
}

/** Creates a task and its schedule (201), or changes nothing (422, 503). */
export async function createTask(
  deps: TaskDeps,
  user: Pick<User, 'id'>,
  workspaceId: string,
  input: TaskCreate,
): Promise<RecurringTask> {
  const { db } = deps;
  await requireWorkspace(db, user, workspaceId);
  const schedule = checkSchedule(input.schedule, input.timezone, deps.settings.minIntervalMinutes);
  const configuration = await checkConfiguration(
    db,
    deps.providers,
    workspaceId,
    input.type,
    input.configuration,
  );
  return db.transaction().execute(async (trx) => {
    const task = await trx
      .insertInto('recurring_tasks')
      .values({
        id: newId(),
        workspace_id: workspaceId,
        user_id: user.id,
        name: input.name,
        description: input.description ?? null,
        type: input.type,
        schedule: input.schedule,
        schedule_expression: schedule.expression,
        timezone: schedule.timezone,
        configuration: JSON.stringify(configuration),
        status: input.status,
        status_reason: null,
        last_run_at: null,
        last_run_status: null,
        last_run_message: null,
        last_successful_run_at: null,
        last_job_id: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await withSchedule(() =>
      deps.scheduler.put({ taskId: task.id, ...schedule, enabled: task.status === 'active' }),
    );
    return task;
  });
}

export type TaskFilters = Paging & {
  status?: RecurringTask['status'] | undefined;
  type?: TaskType | undefined;
};

export async function listTasks(db: Db, user: Pick<User, 'id'>, workspaceId: string, filters: TaskFilters) {
  await requireWorkspace(db, user, workspaceId);
  const filtered = db
    .selectFrom('recurring_tasks')
    .where('workspace_id', '=', workspaceId)
    .$if(filters.status !== undefined, (q) => q.where('status', '=', filters.status!))
    .$if(filters.type !== undefined, (q) => q.where('type', '=', filters.type!));
  const [rows, total] = await Promise.all([
    filtered
      .selectAll()
      .$if(filters.cursor !== undefined, (q) => q.where('id', '>', filters.cursor!))
      .orderBy('id')
      .limit(filters.limit + 1)
      .execute(),
    filtered.select(sql<number>`count(*)::int`.as('count')).executeTakeFirstOrThrow(),
  ]);
  const page = toPage(rows, filters.limit);
  const now = new Date();
  return { ...page, data: page.data.map((t) => toTaskOut(t, now)), count: total.count };
}

/** A task of the caller's workspace, or 404 (also for another workspace's). */
export async function requireTask(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  taskId: string,
): Promise<RecurringTask> {
  await requireWorkspace(db, user, workspaceId);
  const task = await db
    .selectFrom('recurring_tasks')
    .selectAll()
    .where('id', '=', taskId)
    .where('workspace_id', '=', workspaceId)
    .executeTakeFirst();
  if (!task) throw new NotFoundError('Recurring task not found');
  return task;
}

/**
 * Changes a task and its schedule together. A new schedule or time zone restarts a rate's
 * count; `status: active` resumes a paused or auto-paused task and forgets its failures.
 */
export async function updateTask(
  deps: TaskDeps,
  user: Pick<User, 'id'>,
  workspaceId: string,
  taskId: string,
  patch: TaskUpdate,
): Promise<RecurringTask> {
  const { db } = deps;
  const current = await requireTask(db, user, workspaceId, taskId);
  const scheduleChanged = patch.schedule !== undefined || patch.timezone !== undefined;
  const schedule = scheduleChanged
    ? checkSchedule(
        patch.schedule ?? current.schedule,
        patch.timezone ?? current.timezone,
        deps.settings.minIntervalMinutes,
      )
    : scheduleOf(current);
  const configuration =
    patch.configuration === undefined
      ? undefined
      : await checkConfiguration(db, deps.providers, workspaceId, current.type, patch.configuration);
  return db.transaction().execute(async (trx) => {
    const task = await trx
      .updateTable('recurring_tasks')
      .set({
        ...(patch.name !== undefined && { name: patch.name }),
        ...(patch.description !== undefined && { description: patch.description }),
        ...(scheduleChanged && {
          schedule: patch.schedule ?? current.schedule,
          schedule_expression: schedule.expression,
          timezone: schedule.timezone,
          schedule_anchor: sql<Date>`clock_timestamp()`,
        }),
        ...(configuration !== undefined && { configuration: JSON.stringify(configuration) }),
        ...(patch.status !== undefined && { status: patch.status, status_reason: null }),
        ...(patch.status === 'active' && { consecutive_failures: 0 }),
      })
      .where('id', '=', taskId)
      .where('workspace_id', '=', workspaceId)
      .returningAll()
      .executeTakeFirst();
    if (!task) throw new NotFoundError('Recurring task not found');
    await withSchedule(() => deps.scheduler.put({ taskId, ...schedule, enabled: task.status === 'active' }));
    return task;
  });
}

/** Deletes a task with its runs and its schedule (the schedule first: a refusal changes nothing). */
export async function deleteTask(
  deps: Pick<TaskDeps, 'db' | 'scheduler'>,
  user: Pick<User, 'id'>,
  workspaceId: string,
  taskId: string,
): Promise<void> {
  await requireTask(deps.db, user, workspaceId, taskId);
  await deps.db.transaction().execute(async (trx) => {
    const deleted = await trx
      .deleteFrom('recurring_tasks')
      .where('id', '=', taskId)
      .where('workspace_id', '=', workspaceId)
      .returning('id')
      .executeTakeFirst();
    if (!deleted) throw new NotFoundError('Recurring task not found');
    await withSchedule(() => deps.scheduler.remove(taskId));
  });
}

/**
 * Runs a task now, outside its schedule (202): the same message a firing sends, keyed by the
 * time of the request, so the run shows in the history under that time.
 */
export async function runTaskNow(
  db: Db,
  queue: QueueSender,
  user: Pick<User, 'id'>,
  workspaceId: string,
  taskId: string,
  settings: { taskQueue: string },
): Promise<{ task_id: string; scheduled_for: string }> {
  await requireTask(db, user, workspaceId, taskId);
  const message: RunTask = {
    kind: 'run_task',
    task_id: taskId,
    scheduled_for: new Date().toISOString(),
    trigger: 'manual',
  };
  try {
    await queue.send(settings.taskQueue, [message]);
  } catch (cause) {
    throw new UnavailableError('The task queue is unavailable; try again', { cause });
  }
  return { task_id: taskId, scheduled_for: message.scheduled_for };
}

/** A task's runs, newest first. */
export async function listTaskRuns(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  taskId: string,
  paging: Paging,
) {
  await requireTask(db, user, workspaceId, taskId);
  const runs = db.selectFrom('task_runs').where('task_id', '=', taskId);
  const [rows, total] = await Promise.all([
    runs
      .selectAll()
      .$if(paging.cursor !== undefined, (q) => q.where('id', '<', paging.cursor!))
      .orderBy('id', 'desc')
      .limit(paging.limit + 1)
      .execute(),
    runs.select(sql<number>`count(*)::int`.as('count')).executeTakeFirstOrThrow(),
  ]);
  const page = toPage(rows, paging.limit);
  return { ...page, data: page.data.map(toTaskRunOut), count: total.count };
}
