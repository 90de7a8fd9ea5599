import { ExportPublic } from '../schemas/bundles.ts';

/** Prefix of every API path. */
export const API = '/api/v1';

/** A workspace's path: the prefix of every area that lives in a workspace. */
export const WS = `${API}/workspaces/{workspace_id}`;

/**
 * The answer of every export route: the file in the `format` asked for, up to
 * EXPORT_INLINE_MAX_BYTES (API Gateway answers at most 6 MB). Over it, a workspace's routes
 * answer 202 with the export written in the background (`deferred`: poll it, or wait for its
 * `export.finished` event); a share link's routes, which cannot poll, a 303 to a short-lived
 * download (`link`).
 */
export function exportResponse(what: string, large: 'deferred' | 'link') {
  return {
    status: 200,
    description: `${what}, in the \`format\` asked for`,
    contentType: ['text/csv', 'application/x-ndjson', 'application/json'],
    alternatives: [
      large === 'deferred'
        ? {
            status: 202,
            description:
              'Over EXPORT_INLINE_MAX_BYTES: the export, written in the background; poll its `Location` (`GET …/exports/{export_id}`) until `complete`, then download it',
            schema: ExportPublic,
            location: true,
          }
        : {
            status: 303,
            description: 'Over EXPORT_INLINE_MAX_BYTES: a short-lived download URL',
            redirect: true,
          },
    ],
  };
}
