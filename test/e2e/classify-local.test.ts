import { parse as parseCsv } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateModelOutput } from '#lib/classify/index.ts';
import { platform } from '#lib/platform.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { waitForDatasource } from '#test/support/ingest.ts';
import { waitForJob as waitForJobOf } from '#test/support/jobs.ts';

let app: TestApp;
let fake: FakeLlm;
let token: string;
let ws: string;
const API_KEY = 'sk-test-very-secret-key';

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
      request_justification: true,
    },
  ],
};
const tone = {
  name: 'Tone',
  description: 'How the text sounds',
  fields: [
    { name: 'intensity', description: '1 calm .. 5 heated', type: 'int', scale_min: 1, scale_max: 5 },
    { name: 'summary', description: 'One sentence', type: 'str' },
  ],
};

const schemeIds: string[] = [];
const datasourceIds: string[] = [];
let invalidAlways = true;
const rateLimited = new Map<string, number>();

beforeAll(async () => {
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = API_KEY;
  process.env.OPENAI_MODELS = 'fake-model';
  process.env.LLM_CONCURRENCY = '4';
  fake.onRequest((request) => {
    const turns = request.body.messages.length;
    if (request.userText.includes('ALWAYS-INVALID') && invalidAlways) return { kind: 'invalid' };
    if (request.userText.includes('REPAIR-ME') && turns <= 2) return { kind: 'invalid' };
    if (request.userText.includes('RATE-LIMITED')) {
      const seen = rateLimited.get(request.userText) ?? 0;
      rateLimited.set(request.userText, seen + 1);
      if (seen < 3) return { kind: 'status', status: 429, retryAfter: 0 };
    }
    return undefined;
  });
  app = await startTestApp({ QUEUE_VISIBILITY_TIMEOUT_SECONDS: '1' });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Classify' } })).body.id;

  for (const scheme of [topics, tone]) {
    const res = await app.api.post(`/api/v1/workspaces/${ws}/classification_schemes`, {
      token,
      json: scheme,
    });
    expect(res.status).toBe(201);
    schemeIds.push(res.body.id);
  }
  const texts = [
    [
      'The budget raises taxes on fuel to pay for hospitals.',
      'REPAIR-ME Unemployment fell in the spring.',
      'RATE-LIMITED Clinics report long queues.',
    ],
    ['Parliament debated the pension reform all night.', 'ALWAYS-INVALID The weather was pleasant.'],
  ];
  for (const [first, ...rest] of texts) {
    const ds = (
      await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
        token,
        json: { name: 'Texts', type: 'text_block', options: { text: first } },
      })
    ).body.data[0];
    await waitForDatasource(app.api, token, ws, ds.id);
    for (const content of rest) {
      await app.api.post(`/api/v1/workspaces/${ws}/datasources/${ds.id}/records`, {
        token,
        json: { content, content_type: 'text' },
      });
    }
    datasourceIds.push(ds.id);
  }
});
afterAll(async () => {
  await app.stop();
  await fake.close();
});

const jobsPath = () => `/api/v1/workspaces/${ws}/classification_jobs`;

const waitForJob = (id: string) => waitForJobOf(app.api, token, ws, id);

async function resultsOf(jobId: string) {
  const res = await app.api.get(
    `/api/v1/workspaces/${ws}/classification_results?job_id=${jobId}&limit=1000`,
    { token },
  );
  expect(res.status).toBe(200);
  return res.body;
}

describe('a job over two datasources and two schemes', () => {
  let job: any;

  it('runs to completed_with_errors: repaired answers and 429 bursts survive, never-valid answers fail with a reason', async () => {
    const before = fake.requests.length;
    const res = await app.api.post(jobsPath(), {
      token,
      json: {
        name: 'First run',
        scheme_ids: schemeIds,
        datasource_ids: datasourceIds,
        options: { temperature: 0 },
      },
    });
    expect(res.status).toBe(201);
    // The items are the planner's work: the request made the job only.
    expect(res.body).toMatchObject({
      status: 'pending',
      provider: 'openai',
      model: 'fake-model',
      planned: false,
    });
    expect(res.body.progress.total).toBe(0);
    job = await waitForJob(res.body.id);
    expect(job.planned).toBe(true);
    expect(job.status).toBe('completed_with_errors');
    // The fake's invalid answer drops the first scheme's part: the other scheme of that record,
    // validated on its own, succeeds.
    expect(job.progress).toMatchObject({ total: 10, succeeded: 9, failed: 1, pending: 0 });

    const failures = await app.api.get(`${jobsPath()}/${job.id}/failures`, { token });
    expect(failures.body.count).toBe(1);
    expect(failures.body.data[0]).toMatchObject({
      scheme_id: schemeIds[0],
      reason: 'Invalid answer after one repair at (no answer for the scheme)',
    });

    // Each record went out once with both schemes (keyed by name); only repairs went again,
    // asking for the failed scheme alone, and 429s were retried.
    const sent = fake.requests.slice(before);
    const firstTurns = sent.filter((r) => r.body.messages.length === 2);
    expect(new Set(firstTurns.map((r) => r.userText)).size).toBe(5);
    for (const r of firstTurns) expect(Object.keys((r.schema as any).properties)).toEqual(['Topics', 'Tone']);
    const repairs = sent.filter((r) => r.body.messages.length > 2);
    expect(repairs.map((r) => Object.keys((r.schema as any).properties))).toEqual([['Topics'], ['Topics']]);
    // Instructions and schemes first, the same for every record; the record last.
    expect(new Set(firstTurns.map((r) => JSON.stringify(r.body.messages[0]))).size).toBe(1);
    for (const r of firstTurns) expect(r.body.messages[1].content).toMatch(/<\/record(-\d+)?>$/);

    // Usage: one row per billed call, counted once, with the items it asked for.
    const usage = await (await app.db())
      .selectFrom('llm_usage')
      .select(['items', 'input_tokens'])
      .where('job_id', '=', job.id)
      .execute();
    expect(usage.map((u) => u.items).sort()).toEqual([1, 1, 2, 2, 2, 2, 2]);
    expect(job.usage).toMatchObject({
      calls: 7,
      input_tokens: sent.reduce((n, r) => n + (r.usage?.input ?? 0), 0),
    });

    const results = await resultsOf(job.id);
    expect(results.count).toBe(9);
    const schemes = Object.fromEntries(
      await Promise.all(
        schemeIds.map(async (id) => [
          id,
          (await app.api.get(`/api/v1/workspaces/${ws}/classification_schemes/${id}`, { token })).body,
        ]),
      ),
    );
    for (const r of results.data) {
      const checked = validateModelOutput(schemes[r.scheme_id].fields, {
        values: r.value,
        ...(r.scheme_id === schemeIds[0] && {
          justifications: Object.fromEntries(
            Object.entries(r.justifications).map(([k, v]: [string, any]) => [
              k,
              { reasoning: v.reasoning, evidence: v.evidence.map((e: { quote: string }) => e.quote) },
            ]),
          ),
        }),
      });
      expect(checked.ok, JSON.stringify(r)).toBe(true);
      if (r.scheme_id === schemeIds[0]) {
        expect(r.justifications.topics.evidence.length).toBeGreaterThan(0);
        expect(r.justifications.topics.evidence.every((e: { verified: boolean }) => e.verified)).toBe(true);
      }
    }
    // The repair turn told the model what was wrong.
    const repair = fake.requests.find((r) => r.userText.includes('REPAIR-ME') && r.body.messages.length > 2);
    expect(repair?.body.messages.at(-1).content).toContain(
      '- "Topics": The answer for this scheme is missing.',
    );
    // The key went to the provider as a bearer token and never into the API's answers.
    expect(fake.requests[0]!.headers.authorization).toBe(`Bearer ${API_KEY}`);
    expect(JSON.stringify(job)).not.toContain(API_KEY);
  });

  it('retries only the failed items, without duplicating any result', async () => {
    invalidAlways = false;
    const before = fake.requests.length;
    const res = await app.api.post(`${jobsPath()}/${job.id}/retry`, { token });
    expect(res.status).toBe(202);
    const done = await waitForJob(job.id);
    expect(done).toMatchObject({ status: 'completed', progress: { total: 10, succeeded: 10, failed: 0 } });
    // The one failed item: its record with its one scheme, asked as a single-scheme call.
    expect(fake.requests.length - before).toBe(1);
    expect(fake.requests.at(-1)!.schema).toMatchObject({ required: ['values', 'justifications'] });
    expect((await resultsOf(job.id)).count).toBe(10);
  });

  it('ignores a duplicated classify message', async () => {
    const results = await resultsOf(job.id);
    const items = results.data
      .slice(0, 3)
      .map((r: any) => ({ record_id: r.record_id, scheme_id: r.scheme_id }));
    const before = fake.requests.length;
    await platform().queue.send('docsift-classify', [
      { kind: 'classify_items', job_id: job.id, items },
      { kind: 'classify_items', job_id: job.id, items },
      { kind: 'plan_job', job_id: job.id },
    ]);
    await new Promise((r) => setTimeout(r, 1500));
    expect(fake.requests.length).toBe(before);
    expect((await resultsOf(job.id)).count).toBe(10);
  });

  it('filters results by scheme, datasource, label and numeric range', async () => {
    const bySchemes = await app.api.get(
      `/api/v1/workspaces/${ws}/classification_results?job_id=${job.id}&scheme_id=${schemeIds[1]}`,
      { token },
    );
    expect(bySchemes.body.count).toBe(5);
    const byDs = await app.api.get(
      `/api/v1/workspaces/${ws}/classification_results?job_id=${job.id}&datasource_id=${datasourceIds[1]}`,
      { token },
    );
    expect(byDs.body.count).toBe(4);
    const label = await app.api.get(
      `/api/v1/workspaces/${ws}/classification_results?job_id=${job.id}&field=topics&label=Economy`,
      { token },
    );
    expect(label.body.count).toBe(5);
    const none = await app.api.get(
      `/api/v1/workspaces/${ws}/classification_results?job_id=${job.id}&field=topics&label=Health`,
      { token },
    );
    expect(none.body.count).toBe(0);
    const range = await app.api.get(
      `/api/v1/workspaces/${ws}/classification_results?job_id=${job.id}&field=intensity&min=1&max=1`,
      { token },
    );
    expect(range.body.count).toBe(5);
    const bad = await app.api.get(`/api/v1/workspaces/${ws}/classification_results?label=Economy`, { token });
    expect(bad.status).toBe(422);
  });

  it('exports every result in CSV, JSONL and JSON that parse back to the same results', async () => {
    const results = (await resultsOf(job.id)).data;
    const ids = results.map((r: any) => r.id).sort();
    const get = (format: string) =>
      app.api.get(`${jobsPath()}/${job.id}/export?format=${format}&include_text=true`, { token });

    const json = await get('json');
    expect(json.headers.get('content-type')).toMatch(/application\/json/);
    expect(json.body.map((r: any) => r.id).sort()).toEqual(ids);
    expect(json.body[0].text_content).toBeTypeOf('string');

    const jsonl = await get('jsonl');
    const lines = jsonl.text
      .trim()
      .split('\n')
      .map((l: string) => JSON.parse(l));
    expect(lines.map((r: any) => r.id).sort()).toEqual(ids);
    for (const line of lines) expect(line.value).toEqual(results.find((r: any) => r.id === line.id).value);

    const csv = await get('csv');
    expect(csv.headers.get('content-type')).toMatch(/text\/csv/);
    const rows = parseCsv(csv.text, { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => r.result_id).sort()).toEqual(ids);
    const topicRow = rows.find((r) => r.scheme_id === schemeIds[0])!;
    const original = results.find((r: any) => r.id === topicRow.result_id);
    expect(topicRow['Topics.topics']).toBe(original.value.topics.join('; '));
    const toneRow = rows.find((r) => r.scheme_id === schemeIds[1])!;
    expect(Number(toneRow['Tone.intensity'])).toBe(
      results.find((r: any) => r.id === toneRow.result_id).value.intensity,
    );
  });

  it('sums up each field', async () => {
    const res = await app.api.get(`${jobsPath()}/${job.id}/summary`, { token });
    expect(res.status).toBe(200);
    const topicsSummary = res.body.schemes.find((s: any) => s.scheme_id === schemeIds[0]);
    expect(topicsSummary.results).toBe(5);
    expect(topicsSummary.fields[0]).toMatchObject({
      kind: 'labels',
      counts: { Economy: 5, Health: 0, Other: 0 },
    });
    const toneSummary = res.body.schemes.find((s: any) => s.scheme_id === schemeIds[1]);
    expect(toneSummary.fields[0]).toMatchObject({ kind: 'numeric', count: 5, min: 1, max: 1, mean: 1 });
  });

  it('freezes a scheme’s fields once it has results (409) but lets its name change', async () => {
    const path = `/api/v1/workspaces/${ws}/classification_schemes/${schemeIds[1]}`;
    const fields = [{ name: 'intensity', description: 'changed', type: 'int', scale_min: 0, scale_max: 10 }];
    const res = await app.api.patch(path, { token, json: { fields } });
    expect(res.status).toBe(409);
    expect(res.body.detail).toMatch(/copy/);
    expect((await app.api.patch(path, { token, json: { name: 'Tone v1' } })).body.name).toBe('Tone v1');
  });
});

describe('jobs', () => {
  it('can be cancelled mid-run: the rest is dropped', async () => {
    fake.latencyMs = 400;
    try {
      const res = await app.api.post(jobsPath(), { token, json: { name: 'Slow', scheme_ids: schemeIds } });
      await new Promise((r) => setTimeout(r, 700));
      const cancelled = await app.api.post(`${jobsPath()}/${res.body.id}/cancel`, { token });
      expect(cancelled.status).toBe(200);
      expect(cancelled.body.status).toBe('cancelled');
      await new Promise((r) => setTimeout(r, 1500));
      const after = await app.api.get(`${jobsPath()}/${res.body.id}`, { token });
      expect(after.body.status).toBe('cancelled');
      expect(after.body.progress.cancelled).toBeGreaterThan(0);
      expect(after.body.progress.pending).toBe(0);
      expect((await resultsOf(res.body.id)).count).toBe(after.body.progress.succeeded);
    } finally {
      fake.latencyMs = 0;
    }
  });

  it('retries a job whose planning message was lost: its pending items are sent out', async () => {
    const res = await app.api.post(jobsPath(), { token, json: { name: 'Lost', scheme_ids: [schemeIds[1]] } });
    await waitForJob(res.body.id);
    const db = await app.db();
    // As if the process had died between committing the job and queueing its plan.
    await db
      .updateTable('classification_items')
      .set({ status: 'pending' })
      .where('job_id', '=', res.body.id)
      .execute();
    await db.deleteFrom('classification_results').where('job_id', '=', res.body.id).execute();
    await db
      .updateTable('classification_jobs')
      .set({ status: 'pending', finished_at: null })
      .where('id', '=', res.body.id)
      .execute();
    const retried = await app.api.post(`${jobsPath()}/${res.body.id}/retry`, { token });
    expect(retried.status).toBe(202);
    const done = await waitForJob(res.body.id);
    expect(done).toMatchObject({ status: 'completed', progress: { total: 5, succeeded: 5 } });
    expect((await resultsOf(res.body.id)).count).toBe(5);
    // A finished job with nothing failed has nothing to retry.
    expect((await app.api.post(`${jobsPath()}/${res.body.id}/retry`, { token })).status).toBe(409);
  });

  it('lists the workspace’s jobs, each with the same progress as when read alone', async () => {
    const list = await app.api.get(jobsPath(), { token });
    expect(list.status).toBe(200);
    expect(list.body.count).toBe(list.body.data.length);
    expect(list.body.count).toBeGreaterThanOrEqual(2);
    for (const job of list.body.data) {
      const alone = await app.api.get(`${jobsPath()}/${job.id}`, { token });
      expect(job.progress).toEqual(alone.body.progress);
    }
  });

  it('accepts the reference system’s configuration wrapper and the record_ids target', async () => {
    const record = (await app.api.get(`/api/v1/workspaces/${ws}/datarecords?limit=1`, { token })).body
      .data[0];
    const res = await app.api.post(jobsPath(), {
      token,
      json: { name: 'Wrapped', configuration: { scheme_ids: [schemeIds[1]], record_ids: [record.id] } },
    });
    expect(res.status).toBe(201);
    const done = await waitForJob(res.body.id);
    expect(done).toMatchObject({ status: 'completed', progress: { total: 1 } });
  });

  it('makes one call per record and scheme when combine_schemes is false', async () => {
    const before = fake.requests.length;
    const res = await app.api.post(jobsPath(), {
      token,
      json: {
        name: 'Per scheme',
        scheme_ids: schemeIds,
        datasource_ids: [datasourceIds[1]],
        options: { combine_schemes: false },
      },
    });
    expect(res.status).toBe(201);
    expect(res.body.options).toEqual({ combine_schemes: false });
    const done = await waitForJob(res.body.id);
    expect(done).toMatchObject({
      status: 'completed',
      progress: { total: 4, succeeded: 4 },
      usage: { calls: 4 },
    });
    const sent = fake.requests.slice(before);
    expect(sent).toHaveLength(4);
    for (const r of sent) expect(Object.keys((r.schema as any).properties)).not.toContain('Tone');
  });

  it('refuses ids from another workspace, an unknown provider, and hides other workspaces’ jobs', async () => {
    const other = await app.api.newUser(await app.api.login(SUPERUSER.email, SUPERUSER.password));
    const otherWs = (
      await app.api.post('/api/v1/workspaces', { token: other.token, json: { name: 'Other' } })
    ).body.id;
    const foreign = await app.api.post(`/api/v1/workspaces/${otherWs}/classification_jobs`, {
      token: other.token,
      json: { name: 'Steal', scheme_ids: schemeIds },
    });
    expect(foreign.status).toBe(422);
    expect(foreign.body.errors.map((e: any) => e.path)).toEqual(['scheme_ids.0', 'scheme_ids.1']);
    const unknown = await app.api.post(jobsPath(), {
      token,
      json: { name: 'x', scheme_ids: schemeIds, provider: 'nope' },
    });
    expect(unknown.status).toBe(422);
    const model = await app.api.post(jobsPath(), {
      token,
      json: { name: 'x', scheme_ids: schemeIds, model: 'gpt-unlisted' },
    });
    expect(model.status).toBe(422);
    expect(model.body.errors[0]).toMatchObject({
      path: 'model',
      message: expect.stringContaining('fake-model'),
    });
    const mine = (await app.api.get(jobsPath(), { token })).body.data[0];
    const result = (await app.api.get(`/api/v1/workspaces/${ws}/classification_results?limit=1`, { token }))
      .body.data[0];
    for (const path of [
      `/api/v1/workspaces/${ws}/classification_results/${result.id}`,
      `/api/v1/workspaces/${otherWs}/classification_results/${result.id}`,
      `/api/v1/workspaces/${ws}/classification_schemes/${schemeIds[0]}`,
      `/api/v1/workspaces/${ws}/classification_jobs/${mine.id}/export`,
    ]) {
      expect((await app.api.get(path, { token: other.token })).status, path).toBe(404);
    }
    expect(
      (await app.api.get(`/api/v1/workspaces/${otherWs}/classification_results`, { token: other.token })).body
        .count,
    ).toBe(0);
    expect(
      (
        await app.api.get(`/api/v1/workspaces/${otherWs}/classification_jobs/${mine.id}`, {
          token: other.token,
        })
      ).status,
    ).toBe(404);
    expect(
      (await app.api.get(`/api/v1/workspaces/${ws}/classification_jobs/${mine.id}`, { token: other.token }))
        .status,
    ).toBe(404);
  });
});

describe('schemes and providers', () => {
  it('validates definitions with the failing field path', async () => {
    const res = await app.api.post(`/api/v1/workspaces/${ws}/classification_schemes`, {
      token,
      json: {
        name: 'Bad',
        fields: [{ name: 'score', description: 'x', type: 'int', scale_min: 5, scale_max: 1 }],
      },
    });
    expect(res.status).toBe(422);
    expect(res.body.errors.map((e: any) => e.path)).toContain('fields.0.scale_max');
  });

  it('seeds a new default workspace with the three example schemes', async () => {
    const fresh = await app.api.newUser(await app.api.login(SUPERUSER.email, SUPERUSER.password));
    const ws2 = (await app.api.post('/api/v1/workspaces/ensure-default', { token: fresh.token })).body.id;
    const list = await app.api.get(`/api/v1/workspaces/${ws2}/classification_schemes`, {
      token: fresh.token,
    });
    expect(list.body.count).toBe(3);
  });

  it('lists the configured providers and their models, never a key', async () => {
    const res = await app.api.get('/api/v1/classification/providers', { token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ default_provider: 'openai', default_model: 'fake-model' });
    expect(res.body.data).toEqual([{ name: 'openai', models: ['fake-model'], default: true }]);
    expect(res.text).not.toContain(API_KEY);
    expect(res.text).not.toContain(fake.url);
  });
});
