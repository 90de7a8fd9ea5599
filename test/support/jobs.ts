import type { ApiClient } from './client.ts';

/** Polls a classification job until it ends (any status past pending and running), and returns it. */
export async function waitForJob(
  api: ApiClient,
  token: string,
  workspaceId: string,
  id: string,
  timeoutMs = 40_000,
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api.get(`/api/v1/workspaces/${workspaceId}/classification_jobs/${id}`, { token });
    if (!['pending', 'running'].includes(res.body.status)) return res.body;
    if (Date.now() > deadline)
      throw new Error(`job still ${res.body.status}: ${JSON.stringify(res.body.progress)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
