import { REFUSED } from '../compat/refusals.ts';
import { pathToQuery } from '../compat.ts';
import { route } from '../route.ts';
import { RecordParams, RecordPublic, RecordsPublic, RecordsQuery } from '../schemas/datasources.ts';
import { WorkspaceIdParam } from '../schemas/workspaces.ts';
import { WS } from './paths.ts';

/** A datasource's records. */
export const records = {
  list: route({
    handler: 'records.list',
    method: 'GET',
    path: `${WS}/datarecords`,
    auth: 'user',
    summary: 'List records: by datasource, full-text query, event time; keyset-paged',
    tags: ['records'],
    params: WorkspaceIdParam,
    query: RecordsQuery,
    response: { status: 200, schema: RecordsPublic },
    errors: [404],
    compat: {
      own: false,
      aliases: [
        {
          path: `${WS}/datarecords/by_datasource/{datasource_id}`,
          array: true,
          input: pathToQuery({ datasource_id: 'datasource_id' }),
        },
      ],
    },
  }),
  read: route({
    handler: 'records.read',
    method: 'GET',
    path: `${WS}/datarecords/{record_id}`,
    auth: 'user',
    summary: 'Read a record',
    tags: ['records'],
    params: RecordParams,
    response: { status: 200, schema: RecordPublic },
    errors: [404],
    compat: {
      aliases: [
        { method: 'PATCH', path: `${WS}/datarecords/{record_id}`, refuse: REFUSED.recordUpdate },
        { path: `${WS}/datarecords/{record_id}/content`, refuse: REFUSED.recordContent },
      ],
    },
  }),
  delete: route({
    handler: 'records.delete',
    method: 'DELETE',
    path: `${WS}/datarecords/{record_id}`,
    auth: 'user',
    summary: 'Delete a record',
    tags: ['records'],
    params: RecordParams,
    response: { status: 204 },
    errors: [404],
  }),
};
