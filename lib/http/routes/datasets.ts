import {
  datasetFromJob,
  referenceDataset,
  referenceDatasetCreate,
  referenceDatasetUpdate,
} from '../compat/datasets.ts';
import { REFUSED } from '../compat/refusals.ts';
import { route } from '../route.ts';
import { Paging } from '../schemas/common.ts';
import {
  DatasetCreate,
  DatasetExportQuery,
  DatasetParams,
  DatasetPublic,
  DatasetsPublic,
  DatasetUpdate,
  MembersAdd,
  MembersAdded,
  MembersPublic,
  MembersQuery,
  MembersRemove,
  MembersRemoved,
} from '../schemas/datasets.ts';
import { WorkspaceIdParam } from '../schemas/workspaces.ts';
import { exportResponse, WS } from './paths.ts';

const DATASETS = `${WS}/datasets`;
const ONE = `${DATASETS}/{dataset_id}`;
const tags = ['datasets'];

/** Datasets: named, curated sets of a workspace's records, with the schemes and jobs they carry. */
export const datasets = {
  create: route({
    handler: 'datasets.create',
    method: 'POST',
    path: DATASETS,
    auth: 'user',
    summary:
      'Create a dataset, optionally with its first members (record_ids, or the records of a results_filter) and sources',
    tags,
    params: WorkspaceIdParam,
    body: DatasetCreate,
    response: { status: 201, schema: DatasetPublic },
    errors: [404],
    compat: {
      own: false,
      output: referenceDataset,
      aliases: [
        { path: DATASETS, input: referenceDatasetCreate },
        { path: `${WS}/classification_jobs/{job_id}/create_dataset`, input: datasetFromJob },
      ],
    },
  }),
  list: route({
    handler: 'datasets.list',
    method: 'GET',
    path: DATASETS,
    auth: 'user',
    summary: 'List the workspace’s datasets with their member counts',
    tags,
    params: WorkspaceIdParam,
    query: Paging,
    response: { status: 200, schema: DatasetsPublic },
    errors: [404],
    compat: { output: referenceDataset },
  }),
  read: route({
    handler: 'datasets.read',
    method: 'GET',
    path: ONE,
    auth: 'user',
    summary: 'Read a dataset',
    tags,
    params: DatasetParams,
    response: { status: 200, schema: DatasetPublic },
    errors: [404],
    compat: { output: referenceDataset },
  }),
  update: route({
    handler: 'datasets.update',
    method: 'PATCH',
    path: ONE,
    auth: 'user',
    summary: 'Change a dataset’s name, description, custom_metadata, or its schemes and jobs',
    tags,
    params: DatasetParams,
    body: DatasetUpdate,
    response: { status: 200, schema: DatasetPublic },
    errors: [404],
    compat: { own: false, output: referenceDataset, aliases: [{ path: ONE, input: referenceDatasetUpdate }] },
  }),
  delete: route({
    handler: 'datasets.delete',
    method: 'DELETE',
    path: ONE,
    auth: 'user',
    summary: 'Delete a dataset (its records stay)',
    tags,
    params: DatasetParams,
    response: { status: 204 },
    errors: [404],
    compat: {},
  }),
  addMembers: route({
    handler: 'datasets.addMembers',
    method: 'POST',
    path: `${ONE}/members`,
    auth: 'user',
    summary:
      'Add members by record_ids, a results filter or a records filter (applied now; at most 100,000 a request, 422 beyond); members already present are counted, not added again',
    tags,
    params: DatasetParams,
    body: MembersAdd,
    response: { status: 200, schema: MembersAdded },
    errors: [404, 409],
  }),
  removeMembers: route({
    handler: 'datasets.removeMembers',
    method: 'POST',
    path: `${ONE}/members/remove`,
    auth: 'user',
    summary: 'Remove members by record id',
    tags,
    params: DatasetParams,
    body: MembersRemove,
    response: { status: 200, schema: MembersRemoved },
    errors: [404],
  }),
  members: route({
    handler: 'datasets.members',
    method: 'GET',
    path: `${ONE}/members`,
    auth: 'user',
    summary: 'List members by record id, with their results for the schemes in scheme_ids',
    tags,
    params: DatasetParams,
    query: MembersQuery,
    response: { status: 200, schema: MembersPublic },
    errors: [404],
  }),
  export: route({
    handler: 'datasets.export',
    method: 'GET',
    path: `${ONE}/export`,
    auth: 'user',
    summary:
      'Every member with its results for the dataset’s schemes, as CSV, JSONL or JSON (over EXPORT_INLINE_MAX_BYTES: a 202 and the export, written in the background)',
    tags,
    params: DatasetParams,
    query: DatasetExportQuery,
    response: exportResponse('The dataset file', 'deferred'),
    errors: [404],
    compat: {
      own: false,
      aliases: [{ method: 'POST', path: `${ONE}/export`, refuse: REFUSED.datasetPackage }],
    },
  }),
};
