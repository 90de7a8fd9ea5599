import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { entriesOf, exportBundle, importBundle, normalizeBundle } from '#test/support/bundles.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { makeCsv } from '#test/support/fixtures.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

let app: TestApp;
let fake: FakeLlm;
let token: string;
let ws: string;
const CSV_ROWS = 3000;
const schemeIds: string[] = [];
let csvId: string;
let textId: string;
let jobId: string;

const topics = {
  name: 'Topics',
  description: 'Policy areas',
  model_instructions: 'Be brief.',
  fields: [
    {
      name: 'topics',
      description: 'Policy areas the text is about',
      type: 'List[str]',
      is_set_of_labels: true,
      labels: ['Economy', 'Health', 'Other'],
      max_selections: 2,
    },
  ],
};
const tone = {
  name: 'Tone',
  description: 'How the text sounds',
  fields: [{ name: 'intensity', description: '1 calm .. 5 heated', type: 'int', scale_min: 1, scale_max: 5 }],
};

const path = (w: string, rest: string) => `/api/v1/workspaces/${w}/${rest}`;

async function newWorkspace(name: string) {
  const res = await app.api.post('/api/v1/workspaces', { token, json: { name } });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

beforeAll(async () => {
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = 'sk-test-bundles';
  process.env.OPENAI_MODELS = 'fake-model';
  app = await startTestApp({ QUEUE_VISIBILITY_TIMEOUT_SECONDS: '1' });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = await newWorkspace('Source');
  for (const scheme of [topics, tone]) {
    const res = await app.api.post(path(ws, 'classification_schemes'), { token, json: scheme });
    expect(res.status).toBe(201);
    schemeIds.push(res.body.id);
  }
  // A CSV source through the multipart create (its file is kept), and a small text source.
  const rows = [['title', 'body', 'when']];
  for (let i = 0; i < CSV_ROWS; i++)
    rows.push([
      `Row ${i}`,
      `Parliament debated item ${i} of the budget, "quoted", with ümlauts.`,
      '2024-05-01T10:00:00Z',
    ]);
  const form = new FormData();
  form.append('name', 'Votes');
  form.append('type', 'csv');
  form.append(
    'options',
    JSON.stringify({ text_columns: ['body'], title_column: 'title', event_timestamp_column: 'when' }),
  );
  form.append('files', new Blob([makeCsv(rows)]), 'votes.csv');
  const created = await fetch(`${app.url}${path(ws, 'datasources')}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  expect(created.status).toBe(201);
  csvId = ((await created.json()) as { data: { id: string }[] }).data[0]!.id;
  expect((await waitForDatasource(app.api, token, ws, csvId)).status).toBe('complete');
  const text = await app.api.post(path(ws, 'datasources'), {
    token,
    json: { name: 'Speech', type: 'text_block', options: { text: 'Hospitals need money; taxes rise.' } },
  });
  textId = text.body.data[0].id;
  await waitForDatasource(app.api, token, ws, textId);
  await app.api.post(path(ws, `datasources/${textId}/records`), {
    token,
    json: { content: 'Clinics report long queues.', content_type: 'text' },
  });
  const job = await app.api.post(path(ws, 'classification_jobs'), {
    token,
    json: { name: 'Run', scheme_ids: schemeIds, datasource_ids: [textId] },
  });
  expect(job.status).toBe(201);
  jobId = job.body.id;
  for (const deadline = Date.now() + 40_000; ; ) {
    const res = await app.api.get(path(ws, `classification_jobs/${jobId}`), { token });
    if (res.body.status === 'completed') break;
    if (Date.now() > deadline) throw new Error(`job ${res.body.status}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}, 120_000);
afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

async function contents(w: string) {
  const get = async (rest: string) => (await app.api.get(path(w, rest), { token })).body;
  return {
    datasources: (await get('datasources?limit=100')).data.map((d: any) => [d.name, d.type, d.record_count]),
    schemes: (await get('classification_schemes?limit=100')).data.map((s: any) => s.name),
    jobs: (await get('classification_jobs?limit=100')).data.map((j: any) => [
      j.name,
      j.status,
      j.progress.succeeded,
    ]),
    results: (await get('classification_results?limit=1')).count,
  };
}

describe('a workspace round trip', () => {
  let first: Uint8Array;
  let target: string;

  it('exports a workspace as a signed bundle of JSONL entries', async () => {
    const out = await exportBundle(app.api, token, ws, { type: 'workspace' });
    first = out.bytes;
    expect(out.export.counts).toMatchObject({
      schemes: 2,
      datasources: 2,
      records: CSV_ROWS + 2,
      jobs: 1,
      results: 4,
    });
    const entries = entriesOf(first);
    expect(Object.keys(entries).sort()).toEqual(
      [
        'datasets.jsonl',
        'datasources.jsonl',
        'jobs.jsonl',
        'manifest.json',
        `records/${csvId}.jsonl`,
        `records/${textId}.jsonl`,
        `results/${jobId}.jsonl`,
        'schemes.jsonl',
      ].sort(),
    );
    const manifest = JSON.parse(entries['manifest.json']!);
    expect(manifest).toMatchObject({ format: 'docsift-bundle', version: 1, type: 'workspace' });
    expect(manifest.signature).toMatch(/^[0-9a-f]{64}$/);
  });

  it('imports into a new workspace with every id remapped, then exports equal except ids and timestamps', async () => {
    target = await newWorkspace('Target');
    const done = await importBundle(app.api, token, target, first);
    expect(done.status, done.error_message).toBe('complete');
    expect(done).toMatchObject({ format: 'docsift-bundle', bundle_type: 'workspace', signature: 'verified' });
    expect(done.counts).toMatchObject({
      schemes: 2,
      datasources: 2,
      records: CSV_ROWS + 2,
      jobs: 1,
      results: 4,
    });
    expect(await contents(target)).toEqual(await contents(ws));

    const job = (await app.api.get(path(target, 'classification_jobs'), { token })).body.data[0];
    expect(job.id).not.toBe(jobId);
    const targetSchemes = (
      await app.api.get(path(target, 'classification_schemes'), { token })
    ).body.data.map((s: any) => s.id);
    expect(job.scheme_ids.sort()).toEqual(targetSchemes.sort());
    const results = (
      await app.api.get(path(target, `classification_results?job_id=${job.id}&limit=100`), { token })
    ).body.data;
    for (const r of results) {
      const record = await app.api.get(path(target, `datarecords/${r.record_id}`), { token });
      expect(record.status).toBe(200);
    }

    const second = await exportBundle(app.api, token, target, { type: 'workspace' });
    expect(normalizeBundle(second.bytes)).toEqual(normalizeBundle(first));
  });

  it('imported into a workspace holding the same things: schemes reused by content, names suffixed', async () => {
    const again = await importBundle(app.api, token, target, first);
    expect(again.status, again.error_message).toBe('complete');
    expect(again.counts).toMatchObject({ schemes: 0, schemes_reused: 2, datasources: 2, jobs: 1 });
    const names = (await contents(target)).datasources.map((d: any) => d[0]).sort();
    expect(names).toEqual(['Speech', 'Speech (2)', 'Votes', 'Votes (2)']);
    expect((await contents(target)).schemes.sort()).toEqual(['Tone', 'Topics']);
  });
});

describe('bundles of one resource', () => {
  it('a datasource with its original file: the imported source reads its CSV again', async () => {
    const out = await exportBundle(app.api, token, ws, {
      type: 'datasource',
      resource_id: csvId,
      include_files: true,
    });
    expect(Object.keys(entriesOf(out.bytes))).toContain(`files/${csvId}/votes.csv`);
    const target = await newWorkspace('Files');
    const done = await importBundle(app.api, token, target, out.bytes);
    expect(done.counts).toMatchObject({ datasources: 1, records: CSV_ROWS, files: 1 });
    const ds = (await app.api.get(path(target, 'datasources'), { token })).body.data[0];
    const rows = await app.api.get(path(target, `datasources/${ds.id}/rows?limit=2`), { token });
    expect(rows.status, rows.text).toBe(200);
    expect(JSON.stringify(rows.body)).toContain('Row 0');
  });

  it('a scheme is reused by content, not name: a renamed identical one is taken, a same-named different one is not', async () => {
    const out = await exportBundle(app.api, token, ws, { type: 'scheme', resource_id: schemeIds[0]! });
    const target = await newWorkspace('Schemes');
    await app.api.post(path(target, 'classification_schemes'), {
      token,
      json: { ...topics, name: 'Renamed' },
    });
    const reused = await importBundle(app.api, token, target, out.bytes);
    expect(reused.counts).toMatchObject({ schemes: 0, schemes_reused: 1 });
    const other = await newWorkspace('Schemes 2');
    await app.api.post(path(other, 'classification_schemes'), {
      token,
      json: { ...topics, model_instructions: 'Different.' },
    });
    const added = await importBundle(app.api, token, other, out.bytes);
    expect(added.counts).toMatchObject({ schemes: 1, schemes_reused: 0 });
    expect((await contents(other)).schemes.sort()).toEqual(['Topics', 'Topics (2)']);
  });

  it('a job carries its schemes, its datasources and only the records its results refer to (sent inline)', async () => {
    const out = await exportBundle(app.api, token, ws, { type: 'classification_job', resource_id: jobId });
    expect(out.export.counts).toMatchObject({ schemes: 2, datasources: 1, records: 2, jobs: 1, results: 4 });
    const target = await newWorkspace('Job');
    const done = await importBundle(app.api, token, target, out.bytes, { inline: app.url });
    expect(done.status, done.error_message).toBe('complete');
    const job = (await app.api.get(path(target, 'classification_jobs'), { token })).body.data[0];
    expect(job).toMatchObject({ status: 'completed', progress: { succeeded: 4, total: 4 } });
  });
});

describe('the API refuses', () => {
  it('resources that are not the caller’s or do not exist, and a type without its resource', async () => {
    const other = (await app.api.newUser(await app.api.login(SUPERUSER.email, SUPERUSER.password))).token;
    expect(
      (await app.api.post(path(ws, 'exports'), { token: other, json: { type: 'workspace' } })).status,
    ).toBe(404);
    expect(
      (
        await app.api.post(path(ws, 'exports'), {
          token,
          json: { type: 'datasource', resource_id: schemeIds[0] },
        })
      ).status,
    ).toBe(404);
    const missing = await app.api.post(path(ws, 'exports'), { token, json: { type: 'scheme' } });
    expect(missing.status).toBe(422);
    expect(JSON.stringify(missing.body.errors)).toContain('resource_id');
  });

  it('a download link whose signature was changed', async () => {
    const out = await app.api.post(path(ws, 'exports'), {
      token,
      json: { type: 'scheme', resource_id: schemeIds[1] },
    });
    const done = await (await import('#test/support/bundles.ts')).waitFor(
      app.api,
      token,
      path(ws, `exports/${out.body.id}`),
    );
    const url = new URL(done.download.url);
    url.searchParams.set('key', `workspaces/${ws}/secret`);
    expect((await fetch(url)).status).toBe(403);
  });
});
