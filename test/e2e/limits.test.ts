import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { sendUpload, waitForDatasource } from '#test/support/ingest.ts';
import { makePdfBomb } from '#test/support/pdf-bomb.ts';

const MB = 1024 * 1024;

let app: TestApp;
let token: string;
let ws: string;

beforeAll(async () => {
  app = await startTestApp({ QUEUE_VISIBILITY_TIMEOUT_SECONDS: '5' });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Limits' } })).body.id;
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
