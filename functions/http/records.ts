import { httpHandler } from '#lib/http/handler.ts';
import { records } from '#lib/http/routes/records.ts';
import { deleteRecord, getRecord, listRecords, toRecordOut } from '#lib/services/records.ts';

export const list = httpHandler(records.list, async ({ db, user, params, query }) =>
  listRecords(db, user, params.workspace_id, query),
);

export const read = httpHandler(records.read, async ({ db, user, params }) =>
  toRecordOut(await getRecord(db, user, params.workspace_id, params.record_id)),
);

const deleteHandler = httpHandler(records.delete, async ({ db, user, params }) => {
  await deleteRecord(db, user, params.workspace_id, params.record_id);
  return undefined;
});

export { deleteHandler as delete };
