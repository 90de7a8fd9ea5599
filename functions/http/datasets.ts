import { httpHandler } from '#lib/http/handler.ts';
import { downloadResponse } from '#lib/http/response.ts';
import { datasets } from '#lib/http/routes/datasets.ts';
import {
  addMembers,
  createDatasetWithMembers,
  listMembers,
  removeMembers,
} from '#lib/services/dataset-members.ts';
import { deleteDataset, listDatasets, readDataset, updateDataset } from '#lib/services/datasets.ts';
import { answerMemberExport } from '#lib/services/exports.ts';
import { datasetFile } from '#lib/services/file-exports.ts';

export const create = httpHandler(datasets.create, async ({ db, user, params, body }) =>
  createDatasetWithMembers(db, user, params.workspace_id, body),
);

export const list = httpHandler(datasets.list, async ({ db, user, params, query }) =>
  listDatasets(db, user, params.workspace_id, query),
);

export const read = httpHandler(datasets.read, async ({ db, user, params }) =>
  readDataset(db, user, params.workspace_id, params.dataset_id),
);

export const update = httpHandler(datasets.update, async ({ db, user, params, body }) =>
  updateDataset(db, user, params.workspace_id, params.dataset_id, body),
);

const deleteHandler = httpHandler(datasets.delete, async ({ db, user, params }) => {
  await deleteDataset(db, user, params.workspace_id, params.dataset_id);
  return undefined;
});

export { deleteHandler as delete };

const addMembersHandler = httpHandler(datasets.addMembers, async ({ db, user, params, body }) =>
  addMembers(db, user, params.workspace_id, params.dataset_id, body),
);

export { addMembersHandler as addMembers };

const removeMembersHandler = httpHandler(datasets.removeMembers, async ({ db, user, params, body }) =>
  removeMembers(db, user, params.workspace_id, params.dataset_id, body.record_ids),
);

export { removeMembersHandler as removeMembers };

export const members = httpHandler(datasets.members, async ({ db, user, params, query }) =>
  listMembers(db, user, params.workspace_id, params.dataset_id, query),
);

// Over EXPORT_INLINE_MAX_BYTES the export is written in the background: a 202 with it to poll.
const exportHandler = httpHandler(datasets.export, async ({ db, user, params, query }) => {
  const options = { format: query.format, includeText: query.include_text };
  const file = await datasetFile(db, user, params.workspace_id, params.dataset_id, options);
  return downloadResponse(
    await answerMemberExport(db, user, params.workspace_id, file, {
      type: 'dataset',
      resource_id: params.dataset_id,
      include_text: query.include_text,
    }),
  );
});

export { exportHandler as export };
