import { acceptFlags, type RawInput } from '../compat.ts';
import { ValidationError } from '../errors.ts';

/*
 * The reference's imports (a file into a workspace, a dataset from a share token) onto
 * docsift's one import route. docsift imports in the background: the answer is the import to
 * poll, not the imported resource (a deliberate difference, listed in the README).
 */

type Query = RawInput['query'];

function refuseQuery(path: string, message: string): never {
  throw new ValidationError([{ location: 'query', path, message }]);
}

/**
 * `conflict_strategy` taken out: docsift's import is the reference's `skip` (everything comes
 * in as new rows, identical schemes are reused); `update` and `replace` it does not offer.
 */
function withoutConflictStrategy({ conflict_strategy, ...query }: Query): Query {
  if (conflict_strategy !== undefined && conflict_strategy !== 'skip')
    refuseQuery(
      'conflict_strategy',
      'docsift imports as new rows, reusing identical schemes (the reference’s skip); update and replace it does not offer',
    );
  return query;
}

/** A file import (`POST …/datasets/import`, `…/shareables/import/{workspace_id}`): the file as sent. */
export function referenceFileImport(raw: RawInput): RawInput {
  return { ...raw, query: withoutConflictStrategy(raw.query) };
}

const includeFlags = acceptFlags('include_content', 'include_results');

/**
 * `POST …/datasets/import_from_token?share_token=…` as an import of the link's resource. The
 * link's rows come whole (docsift's share import carries text and results), so
 * `include_content` and `include_results` are taken as true or false and ask for nothing less.
 */
export function referenceTokenImport(raw: RawInput): RawInput {
  const flagged = includeFlags({ ...raw, query: withoutConflictStrategy(raw.query) });
  const { share_token, ...query } = flagged.query;
  if (!share_token) refuseQuery('share_token', 'The share link’s token is required');
  return { params: raw.params, query, body: { share_token } };
}

/** An import as the reference's client gets it: docsift's import, and a message saying where it goes on. */
export function referenceImport(body: unknown): unknown {
  const started = body as { id: string; workspace_id: string };
  return {
    ...started,
    message: `Import ${started.id} runs in the background: GET /api/v1/workspaces/${started.workspace_id}/imports/${started.id} says when it is done`,
  };
}
