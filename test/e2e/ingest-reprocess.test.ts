import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { platform } from '#lib/platform.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { makeCsv } from '#test/support/fixtures.ts';
import { allRecords, article, sendUpload, startSite, waitForDatasource } from '#test/support/ingest.ts';

// A reprocess brings records in line with the source in place: ids, and the classification
// results over them, survive; appended records survive, also when appended during the run.
let app: TestApp;
let fake: FakeLlm;
let token: string;
let ws: string;
let schemeId: string;
let site: Awaited<ReturnType<typeof startSite>>;
const pages: Record<string, string> = {
  '/a': article('A', 'First article about the budget'),
  '/b': article('B', 'Second article about pensions'),
  '/c': article('C', 'An appended article about schools'),
};

beforeAll(async () => {
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = 'sk-test-reprocess';
  process.env.OPENAI_MODELS = 'fake-model';
  site = await startSite(pages);
  app = await startTestApp({ QUEUE_VISIBILITY_TIMEOUT_SECONDS: '1', SCRAPER_ALLOW_PRIVATE_HOSTS: 'true' });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Reprocess' } })).body.id;
  const scheme = await app.api.post(`/api/v1/workspaces/${ws}/classification_schemes`, {
    token,
    json: {
      name: 'Tone',
      description: 'How it sounds',
      fields: [{ name: 'summary', description: 'One sentence', type: 'str' }],
    },
  });
  expect(scheme.status).toBe(201);
  schemeId = scheme.body.id;
});
afterAll(async () => {
  await app.stop();
  await fake.close();
  await site.close();
});

const base = () => `/api/v1/workspaces/${ws}/datasources`;
const create = (json: unknown) => app.api.post(base(), { token, json });
const jobs = () => `/api/v1/workspaces/${ws}/classification_jobs`;

async function classify(datasourceId: string) {
  const res = await app.api.post(jobs(), {
    token,
    json: { name: 'Run', scheme_ids: [schemeId], datasource_ids: [datasourceId] },
  });
  expect(res.status).toBe(201);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const job = await app.api.get(`${jobs()}/${res.body.id}`, { token });
    if (['completed', 'completed_with_errors', 'failed', 'cancelled'].includes(job.body.status))
      return job.body;
    if (Date.now() > deadline) throw new Error(`job still ${job.body.status}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

async function resultsOf(jobId: string) {
  const res = await app.api.get(
    `/api/v1/workspaces/${ws}/classification_results?job_id=${jobId}&limit=1000`,
    {
      token,
    },
  );
  expect(res.status).toBe(200);
  return res.body.data as { id: string; record_id: string }[];
}

async function reprocess(id: string) {
  const res = await app.api.post(`${base()}/${id}/reprocess`, { token });
  expect(res.status).toBe(202);
  return res.body;
}

/** The run a reprocess started, once finished (the reprocess answered after setting `pending`). */
const waitForRun = (id: string) => waitForDatasource(app.api, token, ws, id);

const ids = (records: { id: string }[]) => records.map((r) => r.id).sort();

describe('reprocess', () => {
  it('keeps record ids, classification results and 20 appended texts', async () => {
    const source = (
      await create({ name: 'Text', type: 'text_block', options: { text: 'The original text.' } })
    ).body.data[0];
    await waitForDatasource(app.api, token, ws, source.id);
    for (let i = 0; i < 20; i++) {
      const res = await app.api.post(`${base()}/${source.id}/records`, {
        token,
        json: { content: `Appended text ${i}`, content_type: 'text' },
      });
      expect(res.status).toBe(201);
    }
    const before = await allRecords(app.api, token, ws, source.id);
    expect(before).toHaveLength(21);
    const job = await classify(source.id);
    expect(job.progress).toMatchObject({ total: 21, succeeded: 21 });

    await reprocess(source.id);
    const after = await waitForRun(source.id);
    expect(after).toMatchObject({ status: 'complete', record_count: 21 });
    expect(after.metadata.changes).toMatchObject({ added: 0, updated: 0, unchanged: 1, removed: 0 });
    expect(ids(await allRecords(app.api, token, ws, source.id))).toEqual(ids(before));

    const again = await app.api.get(`${jobs()}/${job.id}`, { token });
    expect(again.body.progress).toMatchObject({ total: 21, succeeded: 21 });
    expect(await resultsOf(job.id)).toHaveLength(21);
    const exported = await app.api.get(`${jobs()}/${job.id}/export?format=json`, { token });
    expect(exported.status).toBe(200);
    expect(JSON.parse(exported.text)).toHaveLength(21);
  });

  it('never loses appends that race the run', async () => {
    const source = (await create({ name: 'Race', type: 'text_block', options: { text: 'Racing.' } })).body
      .data[0];
    await waitForDatasource(app.api, token, ws, source.id);
    const appends: Promise<{ status: number }>[] = [];
    for (let round = 0; round < 5; round++) {
      await reprocess(source.id);
      for (let i = 0; i < 4; i++) {
        appends.push(
          app.api.post(`${base()}/${source.id}/records`, {
            token,
            json: { content: `Race ${round}.${i}`, content_type: 'text' },
          }),
        );
      }
    }
    expect((await Promise.all(appends)).map((r) => r.status)).toEqual(Array(20).fill(201));
    await reprocess(source.id);
    const done = await waitForRun(source.id);
    const records = await allRecords(app.api, token, ws, source.id);
    expect(records).toHaveLength(21);
    expect(done.record_count).toBe(21);
  });

  it('updates changed rows in place, keeps results over rows gone from the file and reports every change', async () => {
    const source = (await create({ name: 'Rows', type: 'csv', options: {} })).body.data[0];
    const rows = [['id', 'text'], ...[1, 2, 3, 4].map((i) => [String(i), `Row number ${i}`])];
    expect((await sendUpload(source.upload, makeCsv(rows), 'rows.csv')).status).toBe(204);
    await waitForDatasource(app.api, token, ws, source.id);
    const job = await classify(source.id);
    expect(job.progress).toMatchObject({ total: 4, succeeded: 4 });
    const before = await allRecords(app.api, token, ws, source.id);
    const byRow = Object.fromEntries(before.map((r) => [r.source_metadata.row_number, r]));

    // Row 4's result is removed, so its record has nothing to keep it; then the file changes:
    // row 2's text, rows 3 and 4 gone, a new row 5 (as row 3 of the new file, read by key row:N).
    const db = await app.db();
    await db.deleteFrom('classification_results').where('record_id', '=', byRow[4].id).execute();
    const stored = await db
      .selectFrom('datasources')
      .select('object_key')
      .where('id', '=', source.id)
      .executeTakeFirstOrThrow();
    const changed = [
      ['id', 'text'],
      ['1', 'Row number 1'],
      ['2', 'Row number 2, amended'],
    ];
    await platform().objects.put(stored.object_key!, Buffer.from(makeCsv(changed)));

    await reprocess(source.id);
    const done = await waitForRun(source.id);
    expect(done.status).toBe('complete');
    expect(done.metadata.changes).toEqual({
      added: 0,
      updated: 1,
      updated_with_results: 1,
      unchanged: 1,
      removed: 1,
      kept_with_results: 1,
    });
    const after = await allRecords(app.api, token, ws, source.id);
    expect(ids(after)).toEqual(ids([byRow[1], byRow[2], byRow[3]]));
    const row2 = after.find((r) => r.id === byRow[2].id);
    expect(row2.text_content).toContain('amended');
    expect(row2.content_hash).not.toBe(byRow[2].content_hash);
    const row3 = after.find((r) => r.id === byRow[3].id);
    expect(row3.source_metadata.removed_from_source).toBe(true);
    expect(done.record_count).toBe(3);
    // Three results remain: rows 1 and 2 (kept ids) and row 3 (kept record).
    expect((await resultsOf(job.id)).map((r) => r.record_id).sort()).toEqual(
      ids([byRow[1], byRow[2], byRow[3]]),
    );
  });

  it('scrapes a URL list again into the same records: a changed page is updated, a failing one keeps its record, an appended one stays', async () => {
    const source = (
      await create({ name: 'Urls', type: 'url_list', options: { urls: [`${site.url}/a`, `${site.url}/b`] } })
    ).body.data[0];
    await waitForDatasource(app.api, token, ws, source.id);
    const appended = await app.api.post(`${base()}/${source.id}/records`, {
      token,
      json: { content: `${site.url}/c`, content_type: 'url' },
    });
    expect(appended.status).toBe(202);
    await expect.poll(async () => (await allRecords(app.api, token, ws, source.id)).length).toBe(3);
    const job = await classify(source.id);
    expect(job.progress).toMatchObject({ total: 3, succeeded: 3 });
    const before = await allRecords(app.api, token, ws, source.id);

    pages['/a'] = article('A', 'First article about the budget, corrected');
    delete pages['/b'];
    await reprocess(source.id);
    const done = await waitForRun(source.id);
    expect(done.status).toBe('complete');
    expect(done.metadata.changes).toMatchObject({
      added: 0,
      updated: 1,
      updated_with_results: 1,
      removed: 0,
    });
    expect(done.metadata.failed_urls).toEqual([{ url: `${site.url}/b`, reason: expect.any(String) }]);
    const after = await allRecords(app.api, token, ws, source.id);
    expect(ids(after)).toEqual(ids(before));
    expect(after.find((r) => r.title === 'A').text_content).toContain('corrected');
    expect(done.record_count).toBe(3);
    expect(await resultsOf(job.id)).toHaveLength(3);
  });
});
