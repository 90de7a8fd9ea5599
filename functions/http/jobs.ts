import { EXPORT_CONTENT_TYPES, EXPORTS_PREFIX, exportResults } from '#lib/classify/export.ts';
import { chooseModel, llm } from '#lib/classify/providers.ts';
import type { SchemeField } from '#lib/classify/scheme-definition.ts';
import { summarize } from '#lib/classify/summary.ts';
import { config } from '#lib/config.ts';
import { httpHandler } from '#lib/http/handler.ts';
import { RawResponse } from '#lib/http/response.ts';
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

// API Gateway and Lambda answer in one piece of at most 6 MB: a bigger export is stored and
// answered with a short-lived download link instead (the local store signs none: inline).
export const exportHandler = httpHandler(jobs.export, async ({ db, user, params, query }) => {
  const job = await requireJob(db, user, params.workspace_id, params.job_id);
  const schemes = await schemesOf(db, job.scheme_ids);
  const columns = new Map(schemes.map((s) => [s.id, { name: s.name, fields: s.fields.map((f) => f.name) }]));
  const chunks: string[] = [];
  const rows = jobResults(db, user, params.workspace_id, params.job_id, query.include_text);
  for await (const chunk of exportResults(rows, query.format, columns, query.include_text))
    chunks.push(chunk);
  const body = Buffer.from(chunks.join(''));
  const filename = `job-${job.id}.${query.format}`;
  if (body.length > config().exportInlineMaxBytes && platform().objects.signsDownloads) {
    const key = `${EXPORTS_PREFIX}${job.workspace_id}/${Date.now()}-${filename}`;
    await platform().objects.put(key, body, EXPORT_CONTENT_TYPES[query.format]);
    const url = await platform().objects.presignDownload(key, filename);
    return new RawResponse(303, '', { location: url! });
  }
  return new RawResponse(
    200,
    body.toString('base64'),
    {
      'content-type': EXPORT_CONTENT_TYPES[query.format],
      'content-disposition': `attachment; filename="${filename}"`,
    },
    true,
  );
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
