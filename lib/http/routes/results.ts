import { REFUSED } from '../compat/refusals.ts';
import { pathToQuery } from '../compat.ts';
import { route } from '../route.ts';
import {
  ProvidersList,
  ResultParams,
  ResultPublic,
  ResultsPublic,
  ResultsQuery,
} from '../schemas/classification.ts';
import { WorkspaceIdParam } from '../schemas/workspaces.ts';
import { API, WS } from './paths.ts';

/** Classification results. */
export const results = {
  list: route({
    handler: 'results.list',
    method: 'GET',
    path: `${WS}/classification_results`,
    auth: 'user',
    summary: 'List results: by job, scheme, datasource, record, and a field’s label or numeric range',
    tags: ['classification'],
    params: WorkspaceIdParam,
    query: ResultsQuery,
    response: { status: 200, schema: ResultsPublic },
    errors: [404],
    compat: {
      array: true,
      aliases: [
        {
          path: `${WS}/classification_jobs/{job_id}/results`,
          array: true,
          input: pathToQuery({ job_id: 'job_id' }),
        },
      ],
    },
  }),
  read: route({
    handler: 'results.read',
    method: 'GET',
    path: `${WS}/classification_results/{result_id}`,
    auth: 'user',
    summary: 'Read a result',
    tags: ['classification'],
    params: ResultParams,
    response: { status: 200, schema: ResultPublic },
    errors: [404],
    compat: {
      aliases: [
        {
          method: 'POST',
          path: `${WS}/classification_results/{result_id}/retry`,
          refuse: REFUSED.resultRetry,
        },
      ],
    },
  }),
  providers: route({
    handler: 'results.providers',
    method: 'GET',
    path: `${API}/classification/providers`,
    auth: 'user',
    summary: 'The configured LLM providers and their models',
    tags: ['classification'],
    response: { status: 200, schema: ProvidersList },
    compat: { aliases: [{ path: '/api/v2/classification/providers' }] },
  }),
};
