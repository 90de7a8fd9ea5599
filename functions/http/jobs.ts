import { exportResults } from '#lib/classify/export.ts';
import { chooseModel, llm } from '#lib/classify/providers.ts';
import type { SchemeField } from '#lib/classify/scheme-definition.ts';
import { summarize } from '#lib/classify/summary.ts';
import { config } from '#lib/config.ts';
import { exportResponse } from '#lib/http/export-response.ts';
import { httpHandler } from '#lib/http/handler.ts';
import { jobs } from '#lib/http/routes.ts';
import { platform } from '#lib/platform.ts';
import { announceJobFinished } from '#lib/services/job-events.ts';
import {
  cancelJob,
  createJob,
  deleteJob,
  jobFailures,
  jobProgress,
  listJobs,
  requireJob,
  retryJob,
  toJobOut,
} from '#lib/services/jobs.ts';
import { jobResults } from '#lib/services/results.ts';

const settings = () => ({ classifyQueue: config().classifyQueue });

export const create = httpHandler(jobs.create, async ({ db, user, params, body }) => {
  const { provider, model } = chooseModel(llm(), body.provider, body.model);
  const job = await createJob(
    db,
    platform().queue,
    user,
    params.workspace_id,
    { ...body, provider, model },
    settings(),
  );
  return toJobOut(job, await jobProgress(db, job.id));
});

export const list = httpHandler(jobs.list, async ({ db, user, params, query }) =>
  listJobs(db, user, params.workspace_id, query),
);

export const read = httpHandler(jobs.read, async ({ db, user, params }) => {
  const job = await requireJob(db, user, params.workspace_id, params.job_id);
  return toJobOut(job, await jobProgress(db, job.id));
});

const deleteHandler = httpHandler(jobs.delete, async ({ db, user, params }) => {
  await deleteJob(db, user, params.workspace_id, params.job_id);
  return undefined;
});

export { deleteHandler as delete };

export const cancel = httpHandler(jobs.cancel, async ({ db, user, params }) => {
  const job = await cancelJob(db, user, params.workspace_id, params.job_id);
  // A recurring task's run waiting on this job ends now (the maintenance sweep would, later).
  await announceJobFinished(db, platform().queue, config().taskQueue, job.id);
  return toJobOut(job, await jobProgress(db, job.id));
});

export const retry = httpHandler(jobs.retry, async ({ db, user, params }) => {
  const job = await retryJob(db, platform().queue, user, params.workspace_id, params.job_id, settings());
  return toJobOut(job, await jobProgress(db, job.id));
});

export const failures = httpHandler(jobs.failures, async ({ db, user, params }) =>
  jobFailures(db, user, params.workspace_id, params.job_id),
);

async function schemesOf(db: Parameters<typeof requireJob>[0], schemeIds: string[]) {
  const rows = await db
    .selectFrom('classification_schemes')
    .select(['id', 'name', 'fields'])
    .where('id', 'in', schemeIds)
    .execute();
  return rows.map((r) => ({ id: r.id, name: r.name, fields: r.fields as SchemeField[] }));
}

// Over EXPORT_INLINE_MAX_BYTES the file is stored and answered with a download link.
export const exportHandler = httpHandler(jobs.export, async ({ db, user, params, query }) => {
  const job = await requireJob(db, user, params.workspace_id, params.job_id);
  const schemes = await schemesOf(db, job.scheme_ids);
  const columns = new Map(schemes.map((s) => [s.id, { name: s.name, fields: s.fields.map((f) => f.name) }]));
  const rows = jobResults(db, user, params.workspace_id, params.job_id, query.include_text);
  return exportResponse(exportResults(rows, query.format, columns, query.include_text), {
    format: query.format,
    filename: `job-${job.id}.${query.format}`,
    workspaceId: job.workspace_id,
  });
});
export { exportHandler as export };

export const summary = httpHandler(jobs.summary, async ({ db, user, params }) => {
  const job = await requireJob(db, user, params.workspace_id, params.job_id);
  const schemes = await schemesOf(db, job.scheme_ids);
  const out = [];
  for (const scheme of schemes) {
    const values = await db
      .selectFrom('classification_results')
      .select('value')
      .where('job_id', '=', job.id)
      .where('scheme_id', '=', scheme.id)
      .execute();
    out.push({
      scheme_id: scheme.id,
      name: scheme.name,
      results: values.length,
      fields: summarize(
        scheme.fields,
        values.map((v) => v.value),
      ),
    });
  }
  return { job_id: job.id, schemes: out };
});
