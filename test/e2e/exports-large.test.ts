import { parse as parseCsv } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

// Exports over EXPORT_INLINE_MAX_BYTES (here 500 bytes) on the local platform: the workspace's
// routes answer 202 with an export the ingest worker writes, polled, downloaded through the
// local runtime's signed link, and announced by an export.finished event; share links, which
// cannot poll, get the file streamed to the store and a 303 to it.
let app: TestApp;
let fake: FakeLlm;
let token: string;
let ws: string;
let jobId: string;
let schemeId: string;
let datasetId: string;
const API = '/api/v1';
const TEXTS = Array.from({ length: 6 }, (_, i) => `Statement ${i}: the council debated item ${i} at length.`);

beforeAll(async () => {
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_MODELS = 'fake-model';
  app = await startTestApp({ EXPORT_INLINE_MAX_BYTES: '500' });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post(`${API}/workspaces`, { token, json: { name: 'Exports' } })).body.id;
  const ds = (
    await app.api.post(`${API}/workspaces/${ws}/datasources`, {
      token,
      json: { name: 'Texts', type: 'text_block', options: { text: TEXTS[0] } },
    })
  ).body.data[0];
  await waitForDatasource(app.api, token, ws, ds.id);
  for (const content of TEXTS.slice(1))
    await app.api.post(`${API}/workspaces/${ws}/datasources/${ds.id}/records`, {
      token,
      json: { content, content_type: 'text' },
    });
  schemeId = (
    await app.api.post(`${API}/workspaces/${ws}/classification_schemes`, {
      token,
      json: { name: 'Tone', fields: [{ name: 'calm', description: 'Is it calm', type: 'bool' }] },
    })
  ).body.id;
  const job = await app.api.post(`${API}/workspaces/${ws}/classification_jobs`, {
    token,
    json: { name: 'Tone', scheme_ids: [schemeId], datasource_ids: [ds.id] },
  });
  jobId = job.body.id;
  for (let i = 0; i < 200; i++) {
    const read = await app.api.get(`${API}/workspaces/${ws}/classification_jobs/${jobId}`, { token });
    if (read.body.status === 'completed') break;
    await new Promise((r) => setTimeout(r, 150));
  }
  datasetId = (await app.api.post(`${API}/workspaces/${ws}/datasets`, { token, json: { name: 'All' } })).body
    .id;
  const added = await app.api.post(`${API}/workspaces/${ws}/datasets/${datasetId}/members`, {
    token,
    json: { results_filter: { job_id: jobId } },
  });
  expect(added.body.member_count).toBe(6);
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

/** Polls an export's location until it ends. */
async function finished(location: string) {
  for (let i = 0; i < 150; i++) {
    const res = await app.api.get(location, { token });
    expect(res.status).toBe(200);
    if (res.body.status === 'complete' || res.body.status === 'failed') return res.body;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('export did not finish');
}

describe('exports over the inline limit', () => {
  it('answers a job export with 202 and the export, written in the background and downloaded by link', async () => {
    const res = await app.api.get(
      `${API}/workspaces/${ws}/classification_jobs/${jobId}/export?format=jsonl&include_text=true`,
      { token },
    );
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({
      type: 'classification_job',
      resource_id: jobId,
      format: 'jsonl',
      include_text: true,
      download: null,
    });
    const location = res.headers.get('location')!;
    expect(location).toBe(`${API}/workspaces/${ws}/exports/${res.body.id}`);

    const done = await finished(location);
    expect(done).toMatchObject({ status: 'complete', counts: { results: 6 } });
    expect(done.bytes).toBeGreaterThan(500);
    const download = await fetch(done.download.url);
    expect(download.status).toBe(200);
    expect(download.headers.get('content-disposition')).toContain(`job-${jobId}.jsonl`);
    const lines = (await download.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.text_content).sort()).toEqual([...TEXTS].sort());

    // Announced: the event is in the outbox with the export's counts.
    const events = await (await app.db())
      .selectFrom('event_outbox')
      .select(['type', 'data'])
      .where('type', '=', 'export.finished')
      .execute();
    const event = events.find((e) => e.data.export_id === res.body.id);
    expect(event?.data).toMatchObject({
      status: 'complete',
      format: 'jsonl',
      type: 'classification_job',
      counts: { results: 6 },
    });
  });

  it('answers a dataset export the same way, CSV with a row per member', async () => {
    const res = await app.api.get(`${API}/workspaces/${ws}/datasets/${datasetId}/export?format=csv`, {
      token,
    });
    expect(res.status).toBe(202);
    const done = await finished(res.headers.get('location')!);
    expect(done).toMatchObject({ status: 'complete', format: 'csv', counts: { members: 6 } });
    const rows = parseCsv(await (await fetch(done.download.url)).text(), { columns: true });
    expect(rows).toHaveLength(6);
    expect(rows[0]).toHaveProperty('Tone.calm');
  });

  it('starts a file export on request, and refuses a file format for what only bundles', async () => {
    const started = await app.api.post(`${API}/workspaces/${ws}/exports`, {
      token,
      json: { type: 'classification_job', resource_id: jobId, format: 'csv' },
    });
    expect(started.status).toBe(202);
    const done = await finished(`${API}/workspaces/${ws}/exports/${started.body.id}`);
    expect(parseCsv(await (await fetch(done.download.url)).text(), { columns: true })).toHaveLength(6);

    const scheme = await app.api.post(`${API}/workspaces/${ws}/exports`, {
      token,
      json: { type: 'scheme', resource_id: schemeId, format: 'csv' },
    });
    expect(scheme.status).toBe(422);
    expect(scheme.body.errors[0].path).toBe('format');
  });

  it('streams a share link’s large export to the store and redirects to it', async () => {
    const link = await app.api.post(`${API}/shareables`, {
      token,
      json: { resource_type: 'classification_job', resource_id: jobId, requires_login: false },
    });
    const res = await fetch(`${app.url}${API}/shared/${link.body.token}/jobs/${jobId}/export?format=csv`, {
      redirect: 'manual',
    });
    expect(res.status).toBe(303);
    const file = await fetch(res.headers.get('location')!);
    expect(parseCsv(await file.text(), { columns: true })).toHaveLength(6);
  });
});
