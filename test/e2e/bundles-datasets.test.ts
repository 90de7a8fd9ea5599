import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { entriesOf, exportBundle, importBundle, normalizeBundle } from '#test/support/bundles.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

let app: TestApp;
let fake: FakeLlm;
let token: string;
let ws: string;
let datasetId: string;
let jobId: string;
const schemeIds: string[] = [];
const memberIds: string[] = [];
let outsiderId: string;

const topics = {
  name: 'Topics',
  description: 'Policy areas',
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

async function waitForJob(w: string, id: string) {
  for (const deadline = Date.now() + 40_000; ; ) {
    const res = await app.api.get(path(w, `classification_jobs/${id}`), { token });
    if (res.body.status === 'completed') return res.body;
    if (Date.now() > deadline) throw new Error(`job ${res.body.status}`);
    await new Promise((r) => setTimeout(r, 150));
  }
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
  // Two sources; the dataset takes two records of one and one of the other, leaving one out.
  const sources: string[] = [];
  for (const [name, text] of [
    ['Speech', 'Hospitals need money; taxes rise.'],
    ['Letter', 'The budget is short of funds.'],
  ]) {
    const res = await app.api.post(path(ws, 'datasources'), {
      token,
      json: { name, type: 'text_block', options: { text } },
    });
    expect(res.status, res.text).toBe(201);
    sources.push(res.body.data[0].id);
    await waitForDatasource(app.api, token, ws, res.body.data[0].id);
  }
  for (const content of ['Clinics report long queues.', 'Nobody mentioned schools.'])
    await app.api.post(path(ws, `datasources/${sources[0]}/records`), {
      token,
      json: { content, content_type: 'text' },
    });
  const records = (await app.api.get(path(ws, 'datarecords?limit=100'), { token })).body.data as {
    id: string;
    datasource_id: string;
    text_content: string;
  }[];
  expect(records).toHaveLength(4);
  for (const r of records)
    if (r.text_content.startsWith('Nobody')) outsiderId = r.id;
    else memberIds.push(r.id);
  const job = await app.api.post(path(ws, 'classification_jobs'), {
    token,
    json: { name: 'Run', scheme_ids: schemeIds, datasource_ids: sources },
  });
  expect(job.status, job.text).toBe(201);
  jobId = job.body.id;
  await waitForJob(ws, jobId);
  const dataset = await app.api.post(path(ws, 'datasets'), {
    token,
    json: {
      name: 'Health',
      description: 'What the records say about health',
      custom_metadata: { curator: 'ana' },
      record_ids: memberIds,
      scheme_ids: schemeIds,
      job_ids: [jobId],
    },
  });
  expect(dataset.status, dataset.text).toBe(201);
  datasetId = dataset.body.id;
}, 120_000);
afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

/** A dataset as content: its members' texts with their results by scheme name, its schemes by name. */
async function datasetContent(w: string, id: string) {
  const dataset = (await app.api.get(path(w, `datasets/${id}`), { token })).body;
  const schemes = new Map<string, string>();
  for (const s of (await app.api.get(path(w, 'classification_schemes?limit=100'), { token })).body.data)
    schemes.set(s.id, s.name);
  const jobs = new Map<string, string>();
  for (const j of (await app.api.get(path(w, 'classification_jobs?limit=100'), { token })).body.data)
    jobs.set(j.id, j.name);
  const members = (await app.api.get(path(w, `datasets/${id}/members?limit=100`), { token })).body.data;
  const results = (await app.api.get(path(w, 'classification_results?limit=100'), { token })).body.data;
  const texts = new Map<string, string>();
  for (const m of members) {
    const record = (await app.api.get(path(w, `datarecords/${m.id}`), { token })).body;
    texts.set(record.id, record.text_content);
  }
  return {
    name: dataset.name,
    description: dataset.description,
    custom_metadata: dataset.custom_metadata,
    member_count: dataset.member_count,
    schemes: dataset.scheme_ids.map((s: string) => schemes.get(s)).sort(),
    jobs: dataset.job_ids.map((j: string) => jobs.get(j)).sort(),
    members: [...texts.values()].sort(),
    results: results
      .filter((r: any) => texts.has(r.record_id))
      .map((r: any) => [texts.get(r.record_id), schemes.get(r.scheme_id), r.value])
      .sort((a: any, b: any) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
  };
}

describe('a dataset bundle', () => {
  it('holds only the members’ records, the schemes, the jobs with their results over the members, and the membership; imports elsewhere; exports again equal', async () => {
    const out = await exportBundle(app.api, token, ws, { type: 'dataset', resource_id: datasetId });
    // 3 members of 4 records; 2 schemes × 3 members results (the outsider's 2 stay behind).
    expect(out.export.counts).toMatchObject({
      schemes: 2,
      datasources: 2,
      records: 3,
      jobs: 1,
      results: 6,
      datasets: 1,
      members: 3,
    });
    const entries = entriesOf(out.bytes);
    expect(Object.values(entries).join('\n')).not.toContain(outsiderId);
    expect(Object.keys(entries)).toEqual(
      expect.arrayContaining(['datasets.jsonl', `members/${datasetId}.jsonl`]),
    );
    const job = JSON.parse(entries['jobs.jsonl']!.trim());
    expect(job.id).toBe(jobId);

    const target = await newWorkspace('Target');
    const done = await importBundle(app.api, token, target, out.bytes);
    expect(done.status, done.error_message).toBe('complete');
    expect(done).toMatchObject({ bundle_type: 'dataset', signature: 'verified' });
    expect(done.counts).toMatchObject({ datasets: 1, members: 3, records: 3, results: 6, jobs: 1 });

    const imported = (await app.api.get(path(target, 'datasets'), { token })).body.data;
    expect(imported).toHaveLength(1);
    expect(imported[0].id).not.toBe(datasetId);
    const before = await datasetContent(ws, datasetId);
    expect(before.results).toHaveLength(6);
    expect(await datasetContent(target, imported[0].id)).toEqual(before);

    const again = await exportBundle(app.api, token, target, {
      type: 'dataset',
      resource_id: imported[0].id,
    });
    expect(normalizeBundle(again.bytes)).toEqual(normalizeBundle(out.bytes));
  });

  it('a workspace bundle carries its datasets too', async () => {
    const out = await exportBundle(app.api, token, ws, { type: 'workspace' });
    expect(out.export.counts).toMatchObject({ records: 4, datasets: 1, members: 3 });
    const target = await newWorkspace('Whole');
    const done = await importBundle(app.api, token, target, out.bytes);
    expect(done.status, done.error_message).toBe('complete');
    const imported = (await app.api.get(path(target, 'datasets'), { token })).body.data;
    expect(await datasetContent(target, imported[0].id)).toEqual(await datasetContent(ws, datasetId));
  });

  it('a dataset of another workspace is a 404', async () => {
    const other = await newWorkspace('Other');
    const res = await app.api.post(path(other, 'exports'), {
      token,
      json: { type: 'dataset', resource_id: datasetId },
    });
    expect(res.status).toBe(404);
  });
});
