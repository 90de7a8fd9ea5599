/** Prefix of every API path. */
export const API = '/api/v1';

/** A workspace's path: the prefix of every area that lives in a workspace. */
export const WS = `${API}/workspaces/{workspace_id}`;

/**
 * The answer of every export route: the file in the `format` asked for, or over
 * EXPORT_INLINE_MAX_BYTES a 303 to a short-lived download (API Gateway answers at most 6 MB).
 */
export function exportResponse(what: string) {
  return {
    status: 200,
    description: `${what}, in the \`format\` asked for`,
    contentType: ['text/csv', 'application/x-ndjson', 'application/json'],
    alternatives: [
      {
        status: 303,
        description: 'Over EXPORT_INLINE_MAX_BYTES: a short-lived download URL',
        redirect: true,
      },
    ],
  };
}
