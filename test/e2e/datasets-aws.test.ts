import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { waitFor } from '#test/support/bundles.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

// A dataset export over EXPORT_INLINE_MAX_BYTES on the aws platform (moto's S3 and SQS): a 202
// with an export to poll, written in the background under exports/, handed out by a presigned
// download, as a job's export is.
let app: TestApp;
const suffix = randomBytes(4).toString('hex');

beforeAll(async () => {
  process.env.AWS_ENDPOINT_URL = inject('motoEndpoint');
  app = await startTestApp({
    PLATFORM: 'aws',
    UPLOADS_BUCKET: `docsift-test-${suffix}`,
    INGEST_QUEUE: `docsift-ingest-${suffix}`,
    CLASSIFY_QUEUE: `docsift-classify-${suffix}`,
    QUEUE_VISIBILITY_TIMEOUT_SECONDS: '1',
    EXPORT_INLINE_MAX_BYTES: '200',
  });
});
afterAll(async () => {
  await app?.stop();
});

describe('dataset export on aws', () => {
  it('writes an export too large to go inline in the background, then hands out a presigned download', async () => {
    const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
    const token = (await app.api.newUser(admin)).token;
    const ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'AWS datasets' } })).body.id;
    const ds = await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token,
      json: {
        name: 'Text',
        type: 'text_block',
        options: { text: 'A text long enough to pass the limit. '.repeat(20) },
      },
    });
    await waitForDatasource(app.api, token, ws, ds.body.data[0].id);
    const dataset = await app.api.post(`/api/v1/workspaces/${ws}/datasets`, { token, json: { name: 'All' } });
    const added = await app.api.post(`/api/v1/workspaces/${ws}/datasets/${dataset.body.id}/members`, {
      token,
      json: { records_filter: {} },
    });
    expect(added.body.added).toBe(1);
    const res = await fetch(
      `${app.url}/api/v1/workspaces/${ws}/datasets/${dataset.body.id}/export?format=jsonl&include_text=true`,
      { headers: { authorization: `Bearer ${token}` }, redirect: 'manual' },
    );
    expect(res.status).toBe(202);
    const exportPath = res.headers.get('location')!;
    expect(exportPath).toMatch(new RegExp(`^/api/v1/workspaces/${ws}/exports/`));
    const done = await waitFor(app.api, token, exportPath);
    expect(done.status).toBe('complete');
    const location = done.download.url as string;
    expect(location).toContain(`/exports/${ws}/`);
    const [line] = (await (await fetch(location)).text()).trim().split('\n');
    expect(JSON.parse(line!)).toMatchObject({
      text_content: expect.stringContaining('long enough'),
      results: [],
    });
  });
});
