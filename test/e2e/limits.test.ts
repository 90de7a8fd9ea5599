import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { makeCsv } from '#test/support/fixtures.ts';
import { sendUpload, waitForDatasource } from '#test/support/ingest.ts';
import { makePdfBomb } from '#test/support/pdf-bomb.ts';

const MB = 1024 * 1024;

let app: TestApp;
let token: string;
let ws: string;
let otherToken: string;
let otherWs: string;

beforeAll(async () => {
  app = await startTestApp({ QUEUE_VISIBILITY_TIMEOUT_SECONDS: '5' });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Limits' } })).body.id;
  otherToken = (await app.api.newUser(admin)).token;
  otherWs = (await app.api.post('/api/v1/workspaces', { token: otherToken, json: { name: 'Bystander' } }))
    .body.id;
});
afterAll(async () => {
  await app?.stop();
});

const datasources = () => `/api/v1/workspaces/${ws}/datasources`;

describe('a PDF bomb', () => {
  it('fails its datasource with the reason, and the process neither grows nor stalls', async () => {
    // One page whose content stream inflates to 1.5 GB: about 1.5 MB uploaded.
    const bomb = await makePdfBomb([1536 * MB]);
    const source = (
      await app.api.post(datasources(), { token, json: { name: 'Bomb', type: 'pdf', options: {} } })
    ).body.data[0];
    const before = process.memoryUsage.rss();
    let peak = before;
    let slowest = 0;
    let polling = true;
    // The API keeps answering while the worker deals with the file.
    const health = (async () => {
      while (polling) {
        const started = performance.now();
        expect((await app.api.get('/api/v1/healthz')).status).toBe(200);
        slowest = Math.max(slowest, performance.now() - started);
        peak = Math.max(peak, process.memoryUsage.rss());
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      expect((await sendUpload(source.upload, bomb, 'bomb.pdf')).status).toBe(204);
      const done = await waitForDatasource(app.api, token, ws, source.id);
      expect(done).toMatchObject({
        status: 'failed',
        error_message: 'The PDF is too large once decompressed: a stream inflates past 64 MB',
        record_count: 0,
      });
    } finally {
      polling = false;
      await health;
    }
    expect(slowest).toBeLessThan(1000);
    expect(peak - before).toBeLessThan(256 * MB);
  });
});

/** Starts a CSV ingest big enough to take seconds, and waits until its run is inserting records. */
async function startLargeIngest(workspaceId: string): Promise<string> {
  const rows = Array.from({ length: 120_000 }, (_, i) => [String(i), `Statement ${i} on the budget`]);
  const source = (
    await app.api.post(`/api/v1/workspaces/${workspaceId}/datasources`, {
      token,
      json: { name: 'Large', type: 'csv', options: {} },
    })
  ).body.data[0];
  expect((await sendUpload(source.upload, makeCsv([['id', 'statement'], ...rows]))).status).toBe(204);
  for (;;) {
    const res = await app.api.get(`/api/v1/workspaces/${workspaceId}/datasources/${source.id}`, { token });
    if (res.body.status === 'processing' && res.body.metadata?.progress) return source.id;
    if (res.body.status === 'complete' || res.body.status === 'failed')
      throw new Error(`the ingest finished before the test could race it: ${res.body.status}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Calls `probe` again and again until `until` settles, returning the slowest answer in ms. */
async function slowestWhile(until: Promise<unknown>, probe: () => Promise<void>): Promise<number> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  let slowest = 0;
  while (!done) {
    const started = performance.now();
    await probe();
    slowest = Math.max(slowest, performance.now() - started);
    await new Promise((r) => setTimeout(r, 20));
  }
  return slowest;
}

describe('callers waiting on locks', () => {
  it('ten deletes of a datasource under ingestion stall nobody; it goes in the background', async () => {
    const id = await startLargeIngest(ws);
    const deletes = Promise.all(
      Array.from({ length: 10 }, () => app.api.delete(`${datasources()}/${id}`, { token })),
    );
    const slowest = await slowestWhile(deletes, async () => {
      expect((await app.api.get('/api/v1/healthz')).status).toBe(200);
      expect((await app.api.get(`/api/v1/workspaces/${otherWs}`, { token: otherToken })).status).toBe(200);
    });
    // A caller stuck behind the run's locks would wait the API's lock timeout (2 s) at least.
    expect(slowest).toBeLessThan(2000);
    const answers = await deletes;
    for (const answer of answers) {
      // A run is writing: the datasource is marked `deleting` (202), never deleted under it.
      expect([202, 503]).toContain(answer.status);
      if (answer.status === 202) expect(answer.body.status).toBe('deleting');
      // A delete that could not get its lock in time changed nothing and says when to retry.
      if (answer.status === 503) expect(answer.headers.get('retry-after')).toBe('5');
    }
    if (answers.every((a) => a.status === 503)) {
      // The run was left alone: it completes, with every row.
      const done = await waitForDatasource(app.api, token, ws, id, 110_000);
      expect(done).toMatchObject({ status: 'complete', record_count: 120_000 });
      return;
    }
    // The run stops (rolled back at its end), then the worker deletes what is left, and the row.
    const deadline = Date.now() + 110_000;
    for (;;) {
      const res = await app.api.get(`${datasources()}/${id}`, { token });
      if (res.status === 404) break;
      expect(res.body.status).toBe('deleting');
      if (Date.now() > deadline) throw new Error('the datasource was never deleted');
      await new Promise((r) => setTimeout(r, 200));
    }
    const db = await app.db();
    const left = await db.selectFrom('records').select('id').where('datasource_id', '=', id).execute();
    expect(left).toEqual([]);
  }, 120_000);

  it('deleting a workspace during a large ingest answers within the timeout and changes nothing when refused', async () => {
    const workspace = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Doomed' } })).body.id;
    const id = await startLargeIngest(workspace);
    const started = performance.now();
    const answer = await app.api.delete(`/api/v1/workspaces/${workspace}`, { token });
    // Within the API's lock timeout (2 s), not when the ingest lets go: the request must not
    // outlive its function (15 s in AWS) while the work it asked for goes on.
    expect(performance.now() - started).toBeLessThan(4_000);
    expect([204, 503]).toContain(answer.status);
    if (answer.status === 503) {
      expect(answer.headers.get('retry-after')).toBe('5');
      expect((await app.api.get(`/api/v1/workspaces/${workspace}`, { token })).status).toBe(200);
      const done = await waitForDatasource(app.api, token, workspace, id, 110_000);
      expect(done).toMatchObject({ status: 'complete', record_count: 120_000 });
      // Once the ingest is done, the delete goes through.
      expect((await app.api.delete(`/api/v1/workspaces/${workspace}`, { token })).status).toBe(204);
    }
    expect((await app.api.get(`/api/v1/workspaces/${workspace}`, { token })).status).toBe(404);
  }, 120_000);
});
