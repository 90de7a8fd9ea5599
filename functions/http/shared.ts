import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { config } from '#lib/config.ts';
import type { Db } from '#lib/db/database.ts';
import type { User } from '#lib/db/schema.ts';
import { httpHandler, redactPath } from '#lib/http/handler.ts';
import { downloadResponse } from '#lib/http/response.ts';
import { shared } from '#lib/http/routes/shares.ts';
import { platform } from '#lib/platform.ts';
import { answerLinkExport } from '#lib/services/exports.ts';
import { jobResultsFile } from '#lib/services/file-exports.ts';
import { jobSummary } from '#lib/services/job-reports.ts';
import { openShare } from '#lib/services/share-access.ts';
import {
  describeShare,
  sharedDataset,
  sharedDatasetExport,
  sharedDatasetMembers,
  sharedDatasource,
  sharedDatasources,
  sharedJob,
  sharedJobRow,
  sharedJobs,
  sharedRecord,
  sharedRecords,
  sharedResult,
  sharedResults,
  sharedScheme,
  sharedSchemes,
} from '#lib/services/shared-views.ts';

/** Passes the link's gate (one use, logged with the route, token left out of it). */
function open(db: Db, token: string, user: User | undefined, event: APIGatewayProxyEventV2) {
  return openShare(db, token, user, `${event.requestContext.http.method} ${redactPath(event.rawPath)}`);
}

export const describe = httpHandler(shared.describe, async ({ db, user, params, event }) =>
  describeShare(db, await open(db, params.token, user, event)),
);

export const datasources = httpHandler(shared.datasources, async ({ db, user, params, query, event }) =>
  sharedDatasources(db, await open(db, params.token, user, event), query),
);

export const datasource = httpHandler(shared.datasource, async ({ db, user, params, event }) =>
  sharedDatasource(db, await open(db, params.token, user, event), params.datasource_id),
);

export const records = httpHandler(shared.records, async ({ db, user, params, query, event }) =>
  sharedRecords(db, await open(db, params.token, user, event), query),
);

export const record = httpHandler(shared.record, async ({ db, user, params, event }) =>
  sharedRecord(db, await open(db, params.token, user, event), params.record_id),
);

export const schemes = httpHandler(shared.schemes, async ({ db, user, params, query, event }) =>
  sharedSchemes(db, await open(db, params.token, user, event), query),
);

export const scheme = httpHandler(shared.scheme, async ({ db, user, params, event }) =>
  sharedScheme(db, await open(db, params.token, user, event), params.scheme_id),
);

export const jobs = httpHandler(shared.jobs, async ({ db, user, params, query, event }) =>
  sharedJobs(db, await open(db, params.token, user, event), query),
);

export const job = httpHandler(shared.job, async ({ db, user, params, event }) =>
  sharedJob(db, await open(db, params.token, user, event), params.job_id),
);

export const jobSummaryHandler = httpHandler(shared.jobSummary, async ({ db, user, params, event }) => {
  const share = await open(db, params.token, user, event);
  return jobSummary(db, await sharedJobRow(db, share, params.job_id));
});
export { jobSummaryHandler as jobSummary };

export const jobExportHandler = httpHandler(shared.jobExport, async ({ db, user, params, query, event }) => {
  const share = await open(db, params.token, user, event);
  const row = await sharedJobRow(db, share, params.job_id);
  const file = await jobResultsFile(db, share.reader, row, {
    format: query.format,
    includeText: query.include_text,
  });
  return downloadResponse(
    await answerLinkExport(platform().objects, row.workspace_id, file, config().exportInlineMaxBytes),
  );
});
export { jobExportHandler as jobExport };

export const results = httpHandler(shared.results, async ({ db, user, params, query, event }) =>
  sharedResults(db, await open(db, params.token, user, event), query),
);

export const result = httpHandler(shared.result, async ({ db, user, params, event }) =>
  sharedResult(db, await open(db, params.token, user, event), params.result_id),
);

export const dataset = httpHandler(shared.dataset, async ({ db, user, params, event }) =>
  sharedDataset(db, await open(db, params.token, user, event), params.dataset_id),
);

export const datasetMembers = httpHandler(shared.datasetMembers, async ({ db, user, params, query, event }) =>
  sharedDatasetMembers(db, await open(db, params.token, user, event), params.dataset_id, query),
);

export const datasetExport = httpHandler(shared.datasetExport, async ({ db, user, params, query, event }) => {
  const share = await open(db, params.token, user, event);
  const file = await sharedDatasetExport(db, share, params.dataset_id, query.format, query.include_text);
  return downloadResponse(
    await answerLinkExport(platform().objects, share.link.workspace_id, file, config().exportInlineMaxBytes),
  );
});
