import { parse as parseCsv } from 'csv-parse/sync';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '#lib/ids.ts';
import { indexRecords } from '#lib/services/record-search.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

// Datasets over real HTTP: CRUD, isolation, members added by ids and by filters (idempotent),
// removal, cascades from deleted records, member lists with results, exports, the filter cap.
let app: TestApp;
let fake: FakeLlm;
let token: string;
let other: string;
let ws: string;
let otherWs: string;
let datasourceId: string;
let schemeId: string;
let jobId: string;
/** Record ids by a word of their text. */
const rec: Record<string, string> = {};

const stance = {
  name: 'Stance',
  fields: [
    {
      name: 'stance',
      description: 'For or against',
      type: 'str',
      is_set_of_labels: true,
      labels: ['for', 'against'],
    },
    { name: 'score', description: '1 .. 10', type: 'int', scale_min: 1, scale_max: 10 },
  ],
};
// What the fake model answers for each record (by a word of its text).
const ANSWERS: Record<string, { stance: string; score: number }> = {
  alpha: { stance: 'for', score: 2 },
  beta: { stance: 'for', score: 7 },
  gamma: { stance: 'against', score: 9 },
  delta: { stance: 'against', score: 4 },
  formula: { stance: 'for', score: 5 },
};
const TEXTS = {
  alpha: 'alpha: taxes on fuel rise',
  beta: 'beta: hospitals get more money',
  gamma: 'gamma: taxes on wealth fall',
  delta: 'delta: the pension reform passed',
  formula: '=HYPERLINK("http://evil.example","formula")',
};

const DS = () => `/api/v1/workspaces/${ws}/datasets`;

async function createDataset(json: Record<string, unknown> = {}) {
  const res = await app.api.post(DS(), { token, json: { name: 'Curated', ...json } });
  expect(res.status).toBe(201);
  return res.body;
}

async function memberIds(datasetId: string): Promise<string[]> {
  const res = await app.api.get(`${DS()}/${datasetId}/members?limit=1000`, { token });
  expect(res.status).toBe(200);
  return res.body.data.map((m: { id: string }) => m.id).sort();
}

async function waitForJob(id: string) {
  for (let i = 0; ; i++) {
    const res = await app.api.get(`/api/v1/workspaces/${ws}/classification_jobs/${id}`, { token });
    if (res.body.status === 'completed') return;
    if (i > 300 || (res.body.status !== 'running' && res.body.status !== 'pending')) {
      const failures = await app.api.get(`/api/v1/workspaces/${ws}/classification_jobs/${id}/failures`, {
        token,
      });
      throw new Error(`job ${res.body.status}: ${JSON.stringify(failures.body)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = 'sk-datasets';
  process.env.OPENAI_MODELS = 'fake-model';
  fake.onRequest((request) => {
    const word = Object.keys(ANSWERS).find((w) => request.userText.includes(w));
    if (!word) return undefined;
    const answer = { values: ANSWERS[word] };
    // A call for several schemes (all of them stance-shaped here) wants each one's answer under its key.
    const keys = Object.keys((request.schema as { properties: object }).properties);
    const body = keys.includes('values') ? answer : Object.fromEntries(keys.map((k) => [k, answer]));
    return { kind: 'json', body };
  });
  app = await startTestApp();
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  other = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Datasets' } })).body.id;
  otherWs = (await app.api.post('/api/v1/workspaces', { token: other, json: { name: 'Theirs' } })).body.id;
  const ds = await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
    token,
    json: { name: 'Texts', type: 'text_block', options: { text: TEXTS.alpha } },
  });
  datasourceId = ds.body.data[0].id;
  await waitForDatasource(app.api, token, ws, datasourceId);
  const [first] = (await app.api.get(`/api/v1/workspaces/${ws}/datarecords`, { token })).body.data;
  rec.alpha = first.id;
  const times: Record<string, string> = {
    beta: '2026-01-10T00:00:00Z',
    gamma: '2026-02-10T00:00:00Z',
    delta: '2026-03-10T00:00:00Z',
  };
  for (const word of ['beta', 'gamma', 'delta', 'formula'] as const) {
    const res = await app.api.post(`/api/v1/workspaces/${ws}/datasources/${datasourceId}/records`, {
      token,
      json: {
        content: TEXTS[word],
        content_type: 'text',
        ...(times[word] && { event_timestamp: times[word] }),
      },
    });
    expect(res.status).toBe(201);
    rec[word] = res.body.id;
  }
  schemeId = (await app.api.post(`/api/v1/workspaces/${ws}/classification_schemes`, { token, json: stance }))
    .body.id;
  const job = await app.api.post(`/api/v1/workspaces/${ws}/classification_jobs`, {
    token,
    json: {
      name: 'Stance',
      scheme_ids: [schemeId],
      datasource_ids: [datasourceId],
      provider: 'openai',
      model: 'fake-model',
    },
  });
  expect(job.status).toBe(201);
  jobId = job.body.id;
  await waitForJob(jobId);
});
afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

describe('datasets', () => {
  it('are created (with first members), listed with member counts, read, updated and deleted', async () => {
    const created = await createDataset({
      description: 'Hand-picked',
      custom_metadata: { owner: 'desk', tags: ['a'] },
      record_ids: [rec.alpha, rec.beta, rec.alpha],
      scheme_ids: [schemeId],
    });
    expect(created).toMatchObject({
      workspace_id: ws,
      name: 'Curated',
      description: 'Hand-picked',
      custom_metadata: { owner: 'desk', tags: ['a'] },
      scheme_ids: [schemeId],
      job_ids: [],
      member_count: 2,
    });
    const second = await createDataset({ name: 'Empty' });
    const list = await app.api.get(`${DS()}?limit=1`, { token });
    expect(list.status).toBe(200);
    expect(list.body.count).toBeGreaterThanOrEqual(2);
    expect(list.body.data[0]).toMatchObject({ id: created.id, member_count: 2 });
    const page2 = await app.api.get(`${DS()}?limit=1&cursor=${list.body.next_cursor}`, { token });
    expect(page2.body.data[0].id).toBe(second.id);

    const updated = await app.api.patch(`${DS()}/${created.id}`, {
      token,
      json: { name: 'Renamed', description: null, custom_metadata: { v: 2 } },
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({
      name: 'Renamed',
      description: null,
      custom_metadata: { v: 2 },
      member_count: 2,
    });
    expect((await app.api.get(`${DS()}/${created.id}`, { token })).body.name).toBe('Renamed');

    expect((await app.api.delete(`${DS()}/${second.id}`, { token })).status).toBe(204);
    expect((await app.api.get(`${DS()}/${second.id}`, { token })).status).toBe(404);
    // The records stay.
    expect((await app.api.get(`/api/v1/workspaces/${ws}/datarecords/${rec.alpha}`, { token })).status).toBe(
      200,
    );
  });

  it("is another workspace's 404, and refuses another workspace's ids with a 422 naming each field", async () => {
    const mine = await createDataset();
    for (const [method, path] of [
      ['GET', `${DS()}/${mine.id}`],
      ['PATCH', `${DS()}/${mine.id}`],
      ['DELETE', `${DS()}/${mine.id}`],
      ['GET', `${DS()}/${mine.id}/members`],
      ['GET', `${DS()}/${mine.id}/export`],
      ['POST', `${DS()}/${mine.id}/members`],
      // Their own workspace id with my dataset's id: still not theirs.
      ['GET', `/api/v1/workspaces/${otherWs}/datasets/${mine.id}`],
    ] as const) {
      const res = await app.api.request(method, path, {
        token: other,
        ...(method !== 'GET' && method !== 'DELETE' && { json: { name: 'x', record_ids: [rec.alpha] } }),
      });
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    const theirDs = await app.api.post(`/api/v1/workspaces/${otherWs}/datasources`, {
      token: other,
      json: { name: 'T', type: 'text_block', options: { text: 'theirs' } },
    });
    await waitForDatasource(app.api, other, otherWs, theirDs.body.data[0].id);
    const theirRecord = (await app.api.get(`/api/v1/workspaces/${otherWs}/datarecords`, { token: other }))
      .body.data[0].id;
    const theirScheme = (
      await app.api.post(`/api/v1/workspaces/${otherWs}/classification_schemes`, {
        token: other,
        json: stance,
      })
    ).body.id;

    const create = await app.api.post(DS(), {
      token,
      json: { name: 'Bad', record_ids: [rec.alpha, theirRecord], scheme_ids: [theirScheme] },
    });
    expect(create.status).toBe(422);
    expect(create.body.errors.map((e: { path: string }) => e.path).sort()).toEqual([
      'record_ids.1',
      'scheme_ids.0',
    ]);
    const cases: [unknown, string][] = [
      [{ record_ids: [theirRecord] }, 'record_ids.0'],
      [{ results_filter: { job_id: newId() } }, 'results_filter.job_id'],
      [{ results_filter: { scheme_id: theirScheme } }, 'results_filter.scheme_id'],
      [{ records_filter: { datasource_id: theirDs.body.data[0].id } }, 'records_filter.datasource_id'],
    ];
    for (const [json, path] of cases) {
      const res = await app.api.post(`${DS()}/${mine.id}/members`, { token, json });
      expect(res.status, path).toBe(422);
      expect(res.body.errors.map((e: { path: string }) => e.path)).toEqual([path]);
    }
    const remove = await app.api.post(`${DS()}/${mine.id}/members/remove`, {
      token,
      json: { record_ids: [theirRecord] },
    });
    expect(remove.status).toBe(422);
    expect(
      (await app.api.patch(`${DS()}/${mine.id}`, { token, json: { scheme_ids: [theirScheme] } })).status,
    ).toBe(422);
    const both = await app.api.post(`${DS()}/${mine.id}/members`, {
      token,
      json: { record_ids: [rec.alpha], records_filter: {} },
    });
    expect(both.status).toBe(422);
    expect((await app.api.get(`${DS()}/${mine.id}`, { token })).body.member_count).toBe(0);
  });

  it('adds members by ids, counting those already present, and removes them', async () => {
    const d = await createDataset({ record_ids: [rec.alpha] });
    const add = await app.api.post(`${DS()}/${d.id}/members`, {
      token,
      json: { record_ids: [rec.alpha, rec.beta, rec.gamma] },
    });
    expect(add.status).toBe(200);
    expect(add.body).toEqual({ added: 2, already_present: 1, member_count: 3 });
    const remove = await app.api.post(`${DS()}/${d.id}/members/remove`, {
      token,
      json: { record_ids: [rec.beta, rec.delta] },
    });
    expect(remove.body).toEqual({ removed: 1, member_count: 2 });
    expect(await memberIds(d.id)).toEqual([rec.alpha, rec.gamma].sort());
  });

  it('adds the records of a results filter (label, numeric range) once, and takes on its job and scheme', async () => {
    const d = await createDataset();
    const label = { results_filter: { job_id: jobId, scheme_id: schemeId, field: 'stance', label: 'for' } };
    const first = await app.api.post(`${DS()}/${d.id}/members`, { token, json: label });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ added: 3, already_present: 0, member_count: 3 });
    expect(await memberIds(d.id)).toEqual([rec.alpha, rec.beta, rec.formula].sort());
    const again = await app.api.post(`${DS()}/${d.id}/members`, { token, json: label });
    expect(again.body).toEqual({ added: 0, already_present: 3, member_count: 3 });
    const read = (await app.api.get(`${DS()}/${d.id}`, { token })).body;
    expect(read).toMatchObject({ scheme_ids: [schemeId], job_ids: [jobId] });

    const range = await app.api.post(`${DS()}/${d.id}/members`, {
      token,
      json: { results_filter: { job_id: jobId, field: 'score', min: 4, max: 8 } },
    });
    // beta (7) and formula (5) are members already; delta (4) is new; gamma (9) is out of range.
    expect(range.body).toEqual({ added: 1, already_present: 2, member_count: 4 });
  });

  it('adds the records of a records filter (full text, event time) once', async () => {
    const d = await createDataset();
    const q = await app.api.post(`${DS()}/${d.id}/members`, {
      token,
      json: { records_filter: { q: 'taxes' } },
    });
    expect(q.body).toEqual({ added: 2, already_present: 0, member_count: 2 });
    expect(await memberIds(d.id)).toEqual([rec.alpha, rec.gamma].sort());
    const time = {
      records_filter: {
        datasource_id: datasourceId,
        event_time_from: '2026-02-01T00:00:00Z',
        event_time_to: '2026-04-01T00:00:00Z',
      },
    };
    const first = await app.api.post(`${DS()}/${d.id}/members`, { token, json: time });
    expect(first.body).toEqual({ added: 1, already_present: 1, member_count: 3 });
    const again = await app.api.post(`${DS()}/${d.id}/members`, { token, json: time });
    expect(again.body).toEqual({ added: 0, already_present: 2, member_count: 3 });
    expect((await app.api.get(`${DS()}/${d.id}`, { token })).body).toMatchObject({
      scheme_ids: [],
      job_ids: [],
    });
  });

  it('lists members by record id with text previews and, asked, their results', async () => {
    const d = await createDataset({ record_ids: [rec.alpha, rec.beta, rec.gamma] });
    const page1 = await app.api.get(`${DS()}/${d.id}/members?limit=2&scheme_ids=${schemeId}`, { token });
    expect(page1.status).toBe(200);
    expect(page1.body.count).toBe(3);
    expect(page1.body.data).toHaveLength(2);
    const page2 = await app.api.get(
      `${DS()}/${d.id}/members?limit=2&scheme_ids=${schemeId}&cursor=${page1.body.next_cursor}`,
      {
        token,
      },
    );
    expect(page2.body.next_cursor).toBeNull();
    const all = [...page1.body.data, ...page2.body.data];
    expect(all.map((m) => m.id)).toEqual([rec.alpha, rec.beta, rec.gamma].sort());
    for (const m of all) {
      const word = Object.keys(rec).find((w) => rec[w] === m.id)!;
      expect(m).toMatchObject({ datasource_id: datasourceId, text_truncated: false });
      expect(m.text_content).toBe(TEXTS[word as keyof typeof TEXTS]);
      expect(m.results).toHaveLength(1);
      expect(m.results[0]).toMatchObject({ job_id: jobId, scheme_id: schemeId, value: ANSWERS[word] });
    }
    const plain = await app.api.get(`${DS()}/${d.id}/members`, { token });
    expect(plain.body.data[0].results).toBeUndefined();
    const foreign = await app.api.get(`${DS()}/${d.id}/members?scheme_ids=${newId()}`, { token });
    expect(foreign.status).toBe(422);
    expect(foreign.body.errors[0]).toMatchObject({ location: 'query', path: 'scheme_ids' });
  });

  it('loses a record deleted from its datasource, in every dataset, with nothing dangling', async () => {
    const extra = await app.api.post(`/api/v1/workspaces/${ws}/datasources/${datasourceId}/records`, {
      token,
      json: { content: 'epsilon: doomed', content_type: 'text' },
    });
    const a = await createDataset({ record_ids: [extra.body.id, rec.alpha] });
    const b = await createDataset({ record_ids: [extra.body.id] });
    expect(
      (await app.api.delete(`/api/v1/workspaces/${ws}/datarecords/${extra.body.id}`, { token })).status,
    ).toBe(204);
    expect(await memberIds(a.id)).toEqual([rec.alpha]);
    expect((await app.api.get(`${DS()}/${b.id}`, { token })).body.member_count).toBe(0);
    const db = await app.db();
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM dataset_records
      WHERE record_id = ${extra.body.id}`.execute(db);
    expect(rows[0]!.n).toBe(0);
  });

  it('exports members with their results in CSV (formula-safe), JSONL and JSON', async () => {
    const d = await createDataset({ record_ids: [rec.alpha, rec.gamma, rec.formula] });
    await app.api.post(`${DS()}/${d.id}/members`, { token, json: { results_filter: { job_id: jobId } } });
    const extra = await app.api.post(`/api/v1/workspaces/${ws}/datasources/${datasourceId}/records`, {
      token,
      json: { content: 'zeta: never classified', content_type: 'text' },
    });
    await app.api.post(`${DS()}/${d.id}/members`, { token, json: { record_ids: [extra.body.id] } });
    const members = await memberIds(d.id);
    expect(members).toHaveLength(6);

    const jsonl = await app.api.get(`${DS()}/${d.id}/export?format=jsonl&include_text=true`, { token });
    expect(jsonl.status).toBe(200);
    expect(jsonl.headers.get('content-type')).toContain('application/x-ndjson');
    expect(jsonl.headers.get('content-disposition')).toContain(`dataset-${d.id}.jsonl`);
    const lines = jsonl.text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.map((l) => l.record_id)).toEqual(members);
    const formula = lines.find((l) => l.record_id === rec.formula);
    expect(formula.text_content).toBe(TEXTS.formula);
    expect(formula.results).toMatchObject([{ job_id: jobId, scheme_id: schemeId, value: ANSWERS.formula }]);
    expect(lines.find((l) => l.record_id === extra.body.id).results).toEqual([]);

    const json = await app.api.get(`${DS()}/${d.id}/export?format=json`, { token });
    expect(
      JSON.parse(json.text).map((m: { record_id: string; text_content?: string }) => m.record_id),
    ).toEqual(members);
    expect(JSON.parse(json.text)[0].text_content).toBeUndefined();

    const csv = await app.api.get(`${DS()}/${d.id}/export?format=csv&include_text=true`, { token });
    expect(csv.headers.get('content-type')).toContain('text/csv');
    const rows = parseCsv(csv.text, { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => r.record_id).sort()).toEqual(members);
    const sheet = rows.find((r) => r.record_id === rec.formula)!;
    expect(sheet.text_content).toBe(`'${TEXTS.formula}`);
    expect(sheet['Stance.stance']).toBe('for');
    expect(sheet['Stance.score']).toBe('5');
    const empty = rows.find((r) => r.record_id === extra.body.id)!;
    expect(empty).toMatchObject({ result_id: '', scheme_id: '', 'Stance.stance': '' });
  });

  // Runs after the list and export tests: its job adds results they do not expect.
  it("takes on a job's schemes that still exist when the filter names the job alone", async () => {
    const gone = (
      await app.api.post(`/api/v1/workspaces/${ws}/classification_schemes`, {
        token,
        json: { ...stance, name: 'Stance, deleted later' },
      })
    ).body.id;
    const job = await app.api.post(`/api/v1/workspaces/${ws}/classification_jobs`, {
      token,
      json: {
        name: 'Two schemes',
        scheme_ids: [schemeId, gone],
        datasource_ids: [datasourceId],
        provider: 'openai',
        model: 'fake-model',
        options: { record_id_until: rec.beta },
      },
    });
    await waitForJob(job.body.id);
    expect(
      (await app.api.delete(`/api/v1/workspaces/${ws}/classification_schemes/${gone}`, { token })).status,
    ).toBe(204);
    const d = await createDataset();
    const add = await app.api.post(`${DS()}/${d.id}/members`, {
      token,
      json: { results_filter: { job_id: job.body.id } },
    });
    expect(add.status).toBe(200);
    expect(add.body).toEqual({ added: 2, already_present: 0, member_count: 2 });
    expect((await app.api.get(`${DS()}/${d.id}`, { token })).body).toMatchObject({
      scheme_ids: [schemeId],
      job_ids: [job.body.id],
    });
  });

  it('refuses with a 422 a filter matching more than 100,000 records, and adds 100,000 in one request', async () => {
    const bigWs = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Big' } })).body.id;
    const ds = await app.api.post(`/api/v1/workspaces/${bigWs}/datasources`, {
      token,
      json: { name: 'Big', type: 'text_block', options: { text: 'seed' } },
    });
    const dsId = ds.body.data[0].id;
    await waitForDatasource(app.api, token, bigWs, dsId);
    const db = await app.db();
    // Setup past the API's statement timeout (a loaded machine takes longer than 10 s).
    await db.transaction().execute(async (trx) => {
      await sql`SET LOCAL statement_timeout = 0`.execute(trx);
      // Ids from the database's clock are not UUIDv7, which no query here depends on.
      await sql`INSERT INTO records (id, workspace_id, datasource_id, source_key, text_content, source_metadata,
          event_timestamp, content_hash)
        SELECT gen_random_uuid(), ${bigWs}, ${dsId}, 'bulk:' || i, 'bulk record ' || i, '{}',
          timestamptz '2026-01-01' + i * interval '1 second', md5(i::text)
        FROM generate_series(1, 100001) AS i`.execute(trx);
      // Written past the ingest worker: their search documents are built as its index step would.
      await indexRecords(trx, { datasourceId: dsId });
    });
    const d = (await app.api.post(`/api/v1/workspaces/${bigWs}/datasets`, { token, json: { name: 'Big' } }))
      .body;
    const path = `/api/v1/workspaces/${bigWs}/datasets/${d.id}/members`;
    const tooMany = await app.api.post(path, { token, json: { records_filter: { q: 'bulk' } } });
    expect(tooMany.status).toBe(422);
    expect(tooMany.body.errors[0].path).toBe('records_filter');
    expect(tooMany.body.errors[0].message).toContain('100000');
    expect(
      (await app.api.get(`/api/v1/workspaces/${bigWs}/datasets/${d.id}`, { token })).body.member_count,
    ).toBe(0);

    const started = performance.now();
    const ok = await app.api.post(path, {
      token,
      json: { records_filter: { q: 'bulk', event_time_to: '2026-01-02T03:46:40Z' } },
    });
    const seconds = (performance.now() - started) / 1000;
    console.info(`datasets: 100,000 members added by a records filter in ${seconds.toFixed(2)} s`);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ added: 100_000, already_present: 0, member_count: 100_000 });
  }, 120_000);
});
