import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { entriesOf, exportBundle, importBundle, normalizeBundle, waitFor } from '#test/support/bundles.ts';
import { makeCsv } from '#test/support/fixtures.ts';
import { sendUpload, waitForDatasource } from '#test/support/ingest.ts';

// The aws platform against moto: the export streams to S3 as a multipart upload and comes back
// through a presigned GET; the import goes up through a presigned POST and reaches the worker
// by the bucket's S3 → SQS notification.
let app: TestApp;
let token: string;
let ws: string;
const suffix = randomBytes(4).toString('hex');

beforeAll(async () => {
  process.env.AWS_ENDPOINT_URL = inject('motoEndpoint');
  app = await startTestApp({
    PLATFORM: 'aws',
    UPLOADS_BUCKET: `docsift-bundles-${suffix}`,
    INGEST_QUEUE: `docsift-ingest-${suffix}`,
    CLASSIFY_QUEUE: `docsift-classify-${suffix}`,
    TASK_QUEUE: `docsift-tasks-${suffix}`,
    QUEUE_VISIBILITY_TIMEOUT_SECONDS: '5',
    MAX_UPLOAD_BYTES: String(64 * 1024 * 1024),
  });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'AWS' } })).body.id;
}, 60_000);
afterAll(() => app?.stop());

describe('a bundle round trip on S3', () => {
  it('exports in multipart parts, downloads by presigned GET, imports from a presigned POST', async () => {
    const scheme = await app.api.post(`/api/v1/workspaces/${ws}/classification_schemes`, {
      token,
      json: {
        name: 'Tone',
        fields: [{ name: 'n', description: 'n', type: 'int', scale_min: 1, scale_max: 5 }],
      },
    });
    expect(scheme.status).toBe(201);
    // 100 rows of 80 KB of random text: over one 8 MiB part once deflated, file and records both.
    const rows = [['text'], ...Array.from({ length: 100 }, () => [randomBytes(60_000).toString('base64')])];
    const created = await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token,
      json: { name: 'Random', type: 'csv', options: {} },
    });
    const source = created.body.data[0];
    expect((await sendUpload(source.upload, makeCsv(rows), 'random.csv')).status).toBe(204);
    expect((await waitForDatasource(app.api, token, ws, source.id, 60_000)).record_count).toBe(100);

    const first = await exportBundle(app.api, token, ws, { type: 'workspace', include_files: true });
    expect(first.export.download.url).toContain(inject('motoEndpoint'));
    expect(first.export.bytes).toBeGreaterThan(8 * 1024 * 1024);
    expect(
      Object.keys(entriesOf(first.bytes)).filter((p) => p.startsWith(`files/${source.id}/`)),
    ).toHaveLength(1);

    const target = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Target' } })).body.id;
    const done = await importBundle(app.api, token, target, first.bytes);
    expect(done.status, done.error_message).toBe('complete');
    expect(done).toMatchObject({
      signature: 'verified',
      counts: { schemes: 1, datasources: 1, records: 100, files: 1 },
    });

    const second = await exportBundle(app.api, token, target, { type: 'workspace', include_files: true });
    expect(normalizeBundle(second.bytes)).toEqual(normalizeBundle(first.bytes));

    // A share link's import: the worker's multipart write to the import's key comes back to it
    // through the same notification as an upload.
    const link = await app.api.post('/api/v1/shareables', {
      token,
      json: { resource_type: 'workspace', resource_id: ws, permission_level: 'import' },
    });
    expect(link.status, link.text).toBe(201);
    const copy = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Copy' } })).body.id;
    const started = await app.api.post(`/api/v1/workspaces/${copy}/imports`, {
      token,
      json: { share_token: link.body.token },
    });
    expect(started.status, started.text).toBe(201);
    const shared = await waitFor(app.api, token, `/api/v1/workspaces/${copy}/imports/${started.body.id}`);
    expect(shared.status, shared.error_message).toBe('complete');
    expect(shared).toMatchObject({
      signature: 'verified',
      source: { share_link_id: link.body.id, share_token: 'redacted' },
      counts: { schemes: 1, datasources: 1, records: 100, files: 0 },
    });
  }, 180_000);
});
