import * as z from 'zod';
import { Id, listOf, Paging, Timestamp } from './common.ts';

const Urls = z.array(z.url({ protocol: /^https?$/ }).max(2048)).max(500);

/** `ingest`: scrape these pages (and the new items of these feeds) into a URL datasource. */
export const IngestConfiguration = z
  .object({
    target_datasource_id: Id,
    source_urls: Urls.default([]),
    feeds: Urls.default([]).meta({
      description: 'RSS or Atom feeds: each run takes the items not yet ingested',
    }),
  })
  .strict()
  .refine((c) => c.source_urls.length + c.feeds.length > 0, {
    message: 'Give at least one URL in source_urls or feeds',
    path: ['source_urls'],
  });

export const DEFAULT_JOB_NAME_TEMPLATE = 'Auto-classify: {task_name} – {timestamp}';

/** `classify`: a job over the chosen datasources' records (by default only those new since the last run). */
export const ClassifyConfiguration = z
  .object({
    datasource_ids: z.array(Id).min(1).max(100),
    scheme_ids: z.array(Id).min(1).max(20),
    provider: z.string().min(1).max(64).optional(),
    model: z.string().min(1).max(200).optional(),
    process_only_new: z.boolean().default(true),
    job_name_template: z.string().trim().min(1).max(255).default(DEFAULT_JOB_NAME_TEMPLATE),
  })
  .strict();

export type IngestConfiguration = z.output<typeof IngestConfiguration>;
export type ClassifyConfiguration = z.output<typeof ClassifyConfiguration>;

const TaskFields = {
  name: z.string().trim().min(1).max(255),
  description: z.string().max(10_000).nullable().optional(),
  schedule: z.string().trim().min(1).max(256).meta({
    description:
      'A 5-field cron ("30 8 * * 1-5"), or EventBridge’s rate(15 minutes) or cron(30 8 ? * MON-FRI *)',
    example: '0 6 * * *',
  }),
  timezone: z.string().min(1).max(64).default('UTC').meta({ description: 'IANA time zone of the schedule' }),
};

const Status = z.enum(['active', 'paused', 'error']);
/** What a user may set: `error` is the system's (auto-pause); `active` resumes. */
const SettableStatus = z.enum(['active', 'paused']);

export const TaskCreate = z
  .discriminatedUnion('type', [
    z
      .object({
        ...TaskFields,
        type: z.literal('ingest'),
        configuration: IngestConfiguration,
        status: SettableStatus.default('active'),
      })
      .strict(),
    z
      .object({
        ...TaskFields,
        type: z.literal('classify'),
        configuration: ClassifyConfiguration,
        status: SettableStatus.default('active'),
      })
      .strict(),
  ])
  .meta({ id: 'RecurringTaskCreate' });
export type TaskCreate = z.output<typeof TaskCreate>;

/** Any field but the type; a configuration is replaced whole and checked against the task's type. */
export const TaskUpdate = z
  .object({
    name: TaskFields.name.optional(),
    description: TaskFields.description,
    schedule: TaskFields.schedule.optional(),
    timezone: z.string().min(1).max(64).optional(),
    configuration: z.record(z.string(), z.unknown()).optional(),
    status: SettableStatus.optional(),
  })
  .strict()
  .meta({ id: 'RecurringTaskUpdate' });
export type TaskUpdate = z.output<typeof TaskUpdate>;

const RunStatus = z.enum(['running', 'succeeded', 'failed', 'skipped']);

export const TaskPublic = z
  .object({
    id: Id,
    workspace_id: Id,
    name: z.string(),
    description: z.string().nullable(),
    type: z.enum(['ingest', 'classify']),
    schedule: z.string(),
    schedule_expression: z.string().meta({ description: 'The schedule as EventBridge Scheduler runs it' }),
    timezone: z.string(),
    configuration: z.record(z.string(), z.unknown()),
    status: Status,
    status_reason: z.string().nullable(),
    last_run_at: Timestamp.nullable(),
    last_run_status: RunStatus.nullable(),
    last_run_message: z.string().nullable(),
    last_successful_run_at: Timestamp.nullable(),
    last_job_id: Id.nullable(),
    consecutive_failures: z.number().int(),
    next_run_at: Timestamp.nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'RecurringTaskPublic' });
export const TasksPublic = listOf(TaskPublic).meta({ id: 'RecurringTasksPublic' });

export const TaskParams = z.object({ workspace_id: Id, task_id: Id });

export const TasksQuery = Paging.extend({
  status: Status.optional(),
  type: z.enum(['ingest', 'classify']).optional(),
});

export const TaskRunPublic = z
  .object({
    id: Id,
    task_id: Id,
    scheduled_for: Timestamp,
    trigger: z.enum(['schedule', 'manual']),
    status: RunStatus,
    message: z.string().nullable(),
    counts: z.record(z.string(), z.unknown()),
    job_id: Id.nullable(),
    started_at: Timestamp,
    finished_at: Timestamp.nullable(),
  })
  .meta({ id: 'TaskRunPublic' });
export const TaskRunsPublic = listOf(TaskRunPublic).meta({ id: 'TaskRunsPublic' });

export const TaskRunAccepted = z
  .object({
    task_id: Id,
    scheduled_for: Timestamp.meta({ description: 'The run appears in …/runs under this time' }),
  })
  .meta({ id: 'TaskRunAccepted' });
