import * as z from 'zod';

/**
 * The lifecycle events docsift publishes (EventBridge detail types, webhook `type`s). One
 * schema per type: the docs (docs/events.md) and their test parse an example of each.
 */
const counts = z.record(z.string(), z.unknown());

const DatasourceData = z.object({
  datasource_id: z.uuid(),
  /** The datasource's type (`csv`, `pdf`, `url_list`, …); absent on events recorded before it was added. */
  datasource_type: z.string().optional(),
  status: z.enum(['complete', 'failed']),
  reason: z.string().nullable(),
  counts,
});
const JobData = z.object({
  job_id: z.uuid(),
  status: z.enum(['completed', 'completed_with_errors', 'failed', 'cancelled', 'budget_exceeded']),
  reason: z.string().nullable(),
  counts,
});
const TaskRunData = z.object({
  task_run_id: z.uuid(),
  task_id: z.uuid(),
  job_id: z.uuid().nullable(),
  status: z.enum(['succeeded', 'failed', 'skipped']),
  reason: z.string().nullable(),
  counts,
});
const ImportData = z.object({
  import_id: z.uuid(),
  status: z.enum(['complete', 'failed']),
  reason: z.string().nullable(),
  counts,
});

const ExportData = z.object({
  export_id: z.uuid(),
  type: z.enum(['datasource', 'scheme', 'classification_job', 'dataset', 'workspace']),
  resource_id: z.uuid().nullable(),
  format: z.enum(['bundle', 'csv', 'jsonl', 'json']),
  status: z.enum(['complete', 'failed']),
  reason: z.string().nullable(),
  counts,
});

const envelope = <T extends string, D extends z.ZodType>(type: T, data: D) =>
  z.object({
    id: z.uuid(),
    type: z.literal(type),
    workspace_id: z.uuid(),
    occurred_at: z.iso.datetime({ offset: true }),
    data,
  });

export const EVENT_SCHEMAS = {
  'datasource.completed': envelope('datasource.completed', DatasourceData),
  'datasource.failed': envelope('datasource.failed', DatasourceData),
  'job.completed': envelope('job.completed', JobData),
  'job.failed': envelope('job.failed', JobData),
  'job.cancelled': envelope('job.cancelled', JobData),
  'job.budget_exceeded': envelope('job.budget_exceeded', JobData),
  'task_run.finished': envelope('task_run.finished', TaskRunData),
  'import.finished': envelope('import.finished', ImportData),
  'export.finished': envelope('export.finished', ExportData),
} as const;

export type EventType = keyof typeof EVENT_SCHEMAS;
export const EVENT_TYPES = Object.keys(EVENT_SCHEMAS) as [EventType, ...EventType[]];
export const EventTypeSchema = z.enum(EVENT_TYPES);

/** Any lifecycle event, as published. */
export const LifecycleEvent = z.discriminatedUnion('type', [
  EVENT_SCHEMAS['datasource.completed'],
  EVENT_SCHEMAS['datasource.failed'],
  EVENT_SCHEMAS['job.completed'],
  EVENT_SCHEMAS['job.failed'],
  EVENT_SCHEMAS['job.cancelled'],
  EVENT_SCHEMAS['job.budget_exceeded'],
  EVENT_SCHEMAS['task_run.finished'],
  EVENT_SCHEMAS['import.finished'],
  EVENT_SCHEMAS['export.finished'],
]);
export type LifecycleEvent = z.output<typeof LifecycleEvent>;

/** What a service records: the envelope's id and time are the outbox's. */
export type NewEvent = { type: EventType; workspace_id: string; data: Record<string, unknown> };
