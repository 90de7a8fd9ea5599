import type { NewEvent } from './types.ts';

/**
 * The events of lifecycle changes, built from the rows the change returns (one place per kind,
 * so every site publishes the same shape).
 */
export function datasourceFinished(d: {
  id: string;
  workspace_id: string;
  type: string;
  status: string;
  error_message: string | null;
  record_count: number;
}): NewEvent {
  const completed = d.status === 'complete';
  return {
    type: completed ? 'datasource.completed' : 'datasource.failed',
    workspace_id: d.workspace_id,
    data: {
      datasource_id: d.id,
      datasource_type: d.type,
      status: completed ? 'complete' : 'failed',
      reason: d.error_message,
      counts: { records: d.record_count },
    },
  };
}

/** The event type of each way a job ends; `completed_with_errors` is a completion. */
const JOB_EVENT_TYPES: Record<string, NewEvent['type']> = {
  failed: 'job.failed',
  cancelled: 'job.cancelled',
  budget_exceeded: 'job.budget_exceeded',
};

/** A job that ended: completed (with or without errors), failed, cancelled or stopped by its budget. */
export function jobFinished(
  j: { id: string; workspace_id: string; status: string; error_message: string | null },
  counts: Record<string, number>,
): NewEvent {
  const type = JOB_EVENT_TYPES[j.status] ?? 'job.completed';
  return {
    type,
    workspace_id: j.workspace_id,
    data: { job_id: j.id, status: j.status, reason: j.error_message, counts },
  };
}

/** A bundle import that ended. */
export function importFinished(i: {
  id: string;
  workspace_id: string;
  status: string;
  error_message: string | null;
  counts: Record<string, number>;
}): NewEvent {
  return {
    type: 'import.finished',
    workspace_id: i.workspace_id,
    data: { import_id: i.id, status: i.status, reason: i.error_message, counts: i.counts },
  };
}

/** An export (a bundle, or a results or dataset file) that ended: its download is ready, or it failed. */
export function exportFinished(e: {
  id: string;
  workspace_id: string;
  type: string;
  resource_id: string | null;
  format: string;
  status: string;
  error_message: string | null;
  counts: Record<string, number>;
}): NewEvent {
  return {
    type: 'export.finished',
    workspace_id: e.workspace_id,
    data: {
      export_id: e.id,
      type: e.type,
      resource_id: e.resource_id,
      format: e.format,
      status: e.status,
      reason: e.error_message,
      counts: e.counts,
    },
  };
}
