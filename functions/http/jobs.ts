import { priceOf, priceTable } from '#lib/classify/prices.ts';
import { chooseModel, llm } from '#lib/classify/providers.ts';
import { config } from '#lib/config.ts';
import type { Db } from '#lib/db/database.ts';
import type { User } from '#lib/db/schema.ts';
import { ConflictError, ValidationError } from '#lib/errors.ts';
import { nudgeDispatch } from '#lib/events/outbox.ts';
import { httpHandler } from '#lib/http/handler.ts';
import { downloadResponse, RawResponse } from '#lib/http/response.ts';
import { jobs } from '#lib/http/routes/jobs.ts';
import { JobEstimate } from '#lib/http/schemas/classification.ts';
import { platform } from '#lib/platform.ts';
import { estimateJob, requireBatchBudget } from '#lib/services/estimates.ts';
import { answerMemberExport } from '#lib/services/exports.ts';
import { jobResultsFile } from '#lib/services/file-exports.ts';
import { announceJobFinished } from '#lib/services/job-events.ts';
import { jobSummary } from '#lib/services/job-reports.ts';
import {
  cancelJob,
  createJob,
  deleteJob,
  jobFailures,
  jobOut,
  listJobs,
  openBatchMessages,
  renameJob,
  requireJob,
  retryJob,
} from '#lib/services/jobs.ts';

const settings = () => ({ classifyQueue: config().classifyQueue });

export const create = httpHandler(jobs.create, async ({ db, user, params, body }) => {
  const { provider, model } = chooseModel(llm(), body.provider, body.model);
  const { dry_run: dryRun, ...input } = body;
  if (input.options.max_cost_usd !== undefined && !priceOf(priceTable(), provider, model)) {
    // A cost budget over calls of unknown cost could never be reached.
    throw new ValidationError([
      {
        location: 'body',
        path: 'options.max_cost_usd',
        message: `No price is configured for ${provider} ${model} (LLM_PRICES); use max_tokens`,
      },
    ]);
  }
  if (input.mode === 'batch') {
    if (!llm().providers.get(provider)?.batches)
      throw new ValidationError([
        {
          location: 'body',
          path: 'mode',
          message:
            provider === 'bedrock'
              ? 'Batch mode on bedrock needs Bedrock batch inference, which this server does not have: it reads and writes S3 (BEDROCK_BATCH_ROLE_ARN and BEDROCK_BATCH_S3_URI, set by the CDK stack)'
              : `Batch mode needs a provider with a batch API (openai, bedrock); "${provider}" has none here`,
        },
      ]);
    if (!dryRun)
      await requireBatchBudget(db, user, params.workspace_id, { ...input, provider, model }, priceTable());
  }
  if (dryRun) {
    const estimate = await estimateJob(
      db,
      user,
      params.workspace_id,
      { ...input, provider, model },
      priceTable(),
    );
    return new RawResponse(200, JSON.stringify(JobEstimate.parse(estimate)), {
      'content-type': 'application/json',
    });
  }
  const job = await createJob(
    db,
    platform().queue,
    user,
    params.workspace_id,
    { ...input, provider, model },
    settings(),
  );
  return jobOut(db, job);
});

export const list = httpHandler(jobs.list, async ({ db, user, params, query }) =>
  listJobs(db, user, params.workspace_id, query),
);

export const read = httpHandler(jobs.read, async ({ db, user, params }) => {
  const job = await requireJob(db, user, params.workspace_id, params.job_id);
  return jobOut(db, job);
});

const deleteHandler = httpHandler(jobs.delete, async ({ db, user, params }) => {
  await deleteJob(db, user, params.workspace_id, params.job_id);
  return undefined;
});

export { deleteHandler as delete };

async function cancelAndAnnounce(db: Db, user: User, workspaceId: string, jobId: string) {
  const job = await cancelJob(db, user, workspaceId, jobId);
  // Its provider batches are cancelled by the classify worker, which holds the provider's key (or by the next sweep).
  const batches = await openBatchMessages(db, job.id);
  if (batches.length > 0) await platform().queue.send(config().classifyQueue, batches);
  // A recurring task's run waiting on this job ends now (the maintenance sweep would, later).
  await announceJobFinished(db, platform().queue, config().taskQueue, job.id);
  // Its job.cancelled event is in the outbox: published now (or by the next sweep).
  await nudgeDispatch(platform().queue, config().taskQueue);
  return job;
}

export const cancel = httpHandler(jobs.cancel, async ({ db, user, params }) =>
  jobOut(db, await cancelAndAnnounce(db, user, params.workspace_id, params.job_id)),
);

export const update = httpHandler(jobs.update, async ({ db, user, params, body }) => {
  const { status, error_message: errorMessage } = body;
  const current = await requireJob(db, user, params.workspace_id, params.job_id);
  if (status === 'paused')
    throw new ConflictError('docsift cannot pause a job: cancel it (status: cancelled) or let it finish');
  if (status && status !== 'cancelled' && status !== current.status)
    throw new ConflictError(`A job's status is docsift's to set; a client may only ask for cancelled`);
  if (errorMessage && errorMessage !== current.error_message)
    throw new ConflictError(`A job's error_message is docsift's to set`);
  await renameJob(db, user, params.workspace_id, params.job_id, {
    name: body.name ?? undefined,
    description: body.description ?? undefined,
  });
  const job =
    status === 'cancelled' && current.status !== 'cancelled'
      ? await cancelAndAnnounce(db, user, params.workspace_id, params.job_id)
      : await requireJob(db, user, params.workspace_id, params.job_id);
  return jobOut(db, job);
});

export const retry = httpHandler(jobs.retry, async ({ db, user, params }) => {
  const job = await retryJob(db, platform().queue, user, params.workspace_id, params.job_id, settings());
  return jobOut(db, job);
});

export const failures = httpHandler(jobs.failures, async ({ db, user, params }) =>
  jobFailures(db, user, params.workspace_id, params.job_id),
);

export const exportHandler = httpHandler(jobs.export, async ({ db, user, params, query }) => {
  const job = await requireJob(db, user, params.workspace_id, params.job_id);
  const file = await jobResultsFile(db, user, job, { format: query.format, includeText: query.include_text });
  return downloadResponse(
    await answerMemberExport(db, user, params.workspace_id, file, {
      type: 'classification_job',
      resource_id: job.id,
      include_text: query.include_text,
    }),
  );
});
export { exportHandler as export };

export const summary = httpHandler(jobs.summary, async ({ db, user, params }) =>
  jobSummary(db, await requireJob(db, user, params.workspace_id, params.job_id)),
);
