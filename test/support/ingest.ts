import { createServer, type Server } from 'node:http';
import { expect } from 'vitest';
import type { ApiClient } from './client.ts';

/**
 * Polls a datasource until its run finishes (complete or failed) and returns it; with
 * `searchable`, until a complete one's records are findable by `q` too (`search_status: ready`).
 */
export async function waitForDatasource(
  api: ApiClient,
  token: string,
  workspaceId: string,
  id: string,
  timeoutMs = 30_000,
  { searchable = false } = {},
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await api.get(`/api/v1/workspaces/${workspaceId}/datasources/${id}`, { token });
    expect(res.status).toBe(200);
    const searchDone = !searchable || res.body.search_status === 'ready';
    if (res.body.status === 'failed' || (res.body.status === 'complete' && searchDone)) return res.body;
    if (Date.now() > deadline)
      throw new Error(`datasource ${id} still ${res.body.status}: ${JSON.stringify(res.body)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sends a presigned upload the way a browser does: every field first, then the file. */
export async function sendUpload(
  upload: { url: string; fields: Record<string, string> },
  bytes: Uint8Array | string,
  filename = 'file',
): Promise<Response> {
  const form = new FormData();
  for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
  form.append('file', new Blob([typeof bytes === 'string' ? bytes : new Uint8Array(bytes)]), filename);
  return fetch(upload.url, { method: 'POST', body: form });
}

/** All records of a datasource, following cursors. */
export async function allRecords(api: ApiClient, token: string, workspaceId: string, datasourceId: string) {
  const records: any[] = [];
  let cursor: string | null = null;
  do {
    const res: { body: { data: any[]; next_cursor: string | null } } = await api.get(
      `/api/v1/workspaces/${workspaceId}/datarecords?datasource_id=${datasourceId}&limit=1000${cursor ? `&cursor=${cursor}` : ''}`,
      { token },
    );
    records.push(...res.body.data);
    cursor = res.body.next_cursor;
  } while (cursor);
  return records;
}

/** A small website on loopback for the scraper: `pages` by path, everything else 404. */
export async function startSite(
  pages: Record<string, string>,
): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const html = pages[req.url ?? ''];
    if (html === undefined)
      return res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not found</h1>');
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(html);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export function article(title: string, body: string, published = '2024-05-01T10:00:00Z'): string {
  return `<!doctype html><html><head><title>${title}</title>
    <meta property="article:published_time" content="${published}"></head>
    <body><nav>Menu</nav><article><h1>${title}</h1><p>${body}</p></article><footer>Footer</footer></body></html>`;
}
