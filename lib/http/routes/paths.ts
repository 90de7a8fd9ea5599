/** Prefix of every API path. */
export const API = '/api/v1';

/** A workspace's path: the prefix of every area that lives in a workspace. */
export const WS = `${API}/workspaces/{workspace_id}`;
