import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, type FakeRequest, startFakeLlm } from '#test/support/fake-llm.ts';
import { waitForDatasource } from '#test/support/ingest.ts';
import { waitForJob } from '#test/support/jobs.ts';

let app: TestApp;
let fake: FakeLlm;
let token: string;
let ws: string;
let schemeId: string;
let datasourceId: string;
/** USD per million tokens of the priced fake model. */
const PRICE = { input: 2, cached_input: 0.5, output: 8 };
const FINISHED = ['completed', 'completed_with_errors', 'failed', 'cancelled', 'budget_exceeded'];

beforeAll(async () => {
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = 'sk-test-usage-key';
  process.env.OPENAI_MODELS = 'fake-priced,fake-unpriced,gpt-4o-mini';
  // One call at a time: the budget test then knows how many calls can be in flight (one).
  process.env.LLM_CONCURRENCY = '1';
  process.env.LLM_PRICES = JSON.stringify({ openai: { 'fake-priced': PRICE } });
  fake.onRequest((request) => {
    // The first answer for this record breaks the schema: the repair turn is a second billed call.
    if (request.userText.includes('REPAIR-ME') && request.body.messages.length <= 2)
      return { kind: 'invalid' };
    return undefined;
  });
  app = await startTestApp({ QUEUE_VISIBILITY_TIMEOUT_SECONDS: '1' });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Usage' } })).body.id;
  const scheme = await app.api.post(`/api/v1/workspaces/${ws}/classification_schemes`, {
    token,
    json: {
      name: 'Tone',
      description: 'How the text sounds',
      fields: [
        { name: 'intensity', description: '1 calm .. 5 heated', type: 'int', scale_min: 1, scale_max: 5 },
        { name: 'summary', description: 'One sentence', type: 'str' },
      ],
    },
  });
  expect(scheme.status).toBe(201);
  schemeId = scheme.body.id;
  const ds = (
    await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token,
      json: { name: 'Texts', type: 'text_block', options: { text: 'The budget raises taxes on fuel.' } },
    })
  ).body.data[0];
  await waitForDatasource(app.api, token, ws, ds.id);
  for (const content of ['REPAIR-ME Unemployment fell in the spring.', 'Clinics report long queues.']) {
    await app.api.post(`/api/v1/workspaces/${ws}/datasources/${ds.id}/records`, {
      token,
      json: { content, content_type: 'text' },
    });
  }
  datasourceId = ds.id;
});
afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

const jobsPath = () => `/api/v1/workspaces/${ws}/classification_jobs`;

async function runJob(model: string, options: Record<string, unknown> = {}) {
  const res = await app.api.post(jobsPath(), {
    token,
    json: { name: `Run on ${model}`, model, scheme_ids: [schemeId], datasource_ids: [datasourceId], options },
  });
  expect(res.status).toBe(201);
  const deadline = Date.now() + 40_000;
  for (;;) {
    const job = await app.api.get(`${jobsPath()}/${res.body.id}`, { token });
    if (FINISHED.includes(job.body.status)) return job.body;
    if (Date.now() > deadline) throw new Error(`job still ${job.body.status}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** What the fake billed for a model's requests. */
function billed(requests: FakeRequest[]) {
  const usages = requests.map((r) => r.usage!).filter(Boolean);
  return {
    calls: usages.length,
    input_tokens: usages.reduce((n, u) => n + u.input, 0),
    cached_input_tokens: usages.reduce((n, u) => n + u.cached, 0),
    output_tokens: usages.reduce((n, u) => n + u.output, 0),
  };
}

describe('usage of a job', () => {
  it('records every billed call, the repair turn included, and prices it from LLM_PRICES', async () => {
    const job = await runJob('fake-priced');
    expect(job.status).toBe('completed');
    const sent = fake.requests.filter((r) => r.model === 'fake-priced');
    // Three records, one of them repaired: four calls.
    expect(sent).toHaveLength(4);
    const expected = billed(sent);
    expect(expected.cached_input_tokens).toBeGreaterThan(0);
    expect(job.usage).toMatchObject(expected);
    const cost =
      ((expected.input_tokens - expected.cached_input_tokens) * PRICE.input +
        expected.cached_input_tokens * PRICE.cached_input +
        expected.output_tokens * PRICE.output) /
      1e6;
    expect(job.usage.cost_usd).toBeCloseTo(cost, 10);

    // The list page carries the same sums (one grouped query for the page).
    const list = await app.api.get(jobsPath(), { token });
    expect(list.body.data.find((j: { id: string }) => j.id === job.id).usage).toEqual(job.usage);
  });

  it('shows tokens and a null cost for a model without a price', async () => {
    const job = await runJob('fake-unpriced');
    expect(job.status).toBe('completed');
    expect(job.usage.calls).toBe(4);
    expect(job.usage.input_tokens).toBeGreaterThan(0);
    expect(job.usage.cost_usd).toBeNull();
  });
});

describe('a dry run', () => {
  const estimate = (json: Record<string, unknown>) =>
    app.api.post(jobsPath(), {
      token,
      json: {
        name: 'Estimate',
        scheme_ids: [schemeId],
        datasource_ids: [datasourceId],
        dry_run: true,
        ...json,
      },
    });

  it('answers 200 with items, tokens and cost, and creates nothing, calls nothing', async () => {
    const jobsBefore = (await app.api.get(jobsPath(), { token })).body.count;
    const callsBefore = fake.requests.length;
    const res = await estimate({ model: 'fake-priced' });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ items: 3, records: 3, tokenizer: 'chars/4' });
    expect((await app.api.get(jobsPath(), { token })).body.count).toBe(jobsBefore);
    expect(fake.requests.length).toBe(callsBefore);

    // Plausible: near what the first turns of the real run were billed (the fake counts chars/4 too).
    const firstTurns = fake.requests.filter((r) => r.model === 'fake-priced' && r.body.messages.length === 2);
    const billedInput = firstTurns.reduce((n, r) => n + r.usage!.input, 0);
    expect(res.body.estimated_input_tokens).toBeGreaterThan(billedInput * 0.7);
    expect(res.body.estimated_input_tokens).toBeLessThan(billedInput * 1.3);
    expect(res.body.estimated_output_tokens).toBeGreaterThan(0);
    expect(res.body.estimated_cost_usd).toBeCloseTo(
      (res.body.estimated_input_tokens * PRICE.input + res.body.estimated_output_tokens * PRICE.output) / 1e6,
      10,
    );
  });

  it('counts with o200k_base for an OpenAI model, at the default table’s price', async () => {
    const approximate = (await estimate({ model: 'fake-priced' })).body;
    const res = await estimate({ model: 'gpt-4o-mini' });
    expect(res.status).toBe(200);
    expect(res.body.tokenizer).toBe('o200k_base');
    // English prose and JSON: a real tokenizer lands near the four-characters rule, not on it.
    expect(res.body.estimated_input_tokens).not.toBe(approximate.estimated_input_tokens);
    expect(res.body.estimated_input_tokens).toBeGreaterThan(approximate.estimated_input_tokens * 0.5);
    expect(res.body.estimated_input_tokens).toBeLessThan(approximate.estimated_input_tokens * 1.5);
    expect(res.body.estimated_cost_usd).toBeCloseTo(
      (res.body.estimated_input_tokens * 0.15 + res.body.estimated_output_tokens * 0.6) / 1e6,
      10,
    );
  });

  it('caps by max_records, has no cost without a price, and checks ids like a real create', async () => {
    const capped = await estimate({ model: 'fake-unpriced', options: { max_records: 2 } });
    expect(capped.status).toBe(200);
    expect(capped.body).toMatchObject({ items: 2, records: 2, estimated_cost_usd: null });
    const unknown = await estimate({ scheme_ids: ['01938a6e-1c2d-7a00-8a11-00000000dead'] });
    expect(unknown.status).toBe(422);
  });
});

describe('GET /workspaces/{id}/usage', () => {
  it('groups the calls by day, provider and model, with a total', async () => {
    const res = await app.api.get(`/api/v1/workspaces/${ws}/usage`, { token });
    expect(res.status).toBe(200);
    const today = new Date().toISOString().slice(0, 10);
    expect(res.body.data.map((r: any) => [r.day, r.provider, r.model])).toEqual([
      [today, 'openai', 'fake-priced'],
      [today, 'openai', 'fake-unpriced'],
    ]);
    const priced = res.body.data[0];
    expect(priced).toMatchObject(billed(fake.requests.filter((r) => r.model === 'fake-priced')));
    expect(priced.cost_usd).toBeGreaterThan(0);
    expect(res.body.data[1].cost_usd).toBeNull();
    expect(res.body.total.calls).toBe(8);
    // One unpriced group makes the total's cost unknown, not a partial sum.
    expect(res.body.total.cost_usd).toBeNull();

    const before = await app.api.get(`/api/v1/workspaces/${ws}/usage?to=${today}`, { token });
    expect(before.body.data).toEqual([]);
    expect(before.body.total).toMatchObject({ calls: 0, cost_usd: 0 });

    const backwards = await app.api.get(`/api/v1/workspaces/${ws}/usage?from=${today}&to=2020-01-01`, {
      token,
    });
    expect(backwards.status).toBe(422);
  });

  it('keeps a deleted job’s usage: it was paid for', async () => {
    const jobs = await app.api.get(jobsPath(), { token });
    for (const j of jobs.body.data) {
      expect((await app.api.delete(`${jobsPath()}/${j.id}`, { token })).status).toBe(204);
    }
    const res = await app.api.get(`/api/v1/workspaces/${ws}/usage`, { token });
    expect(res.body.total.calls).toBe(8);
  });

  it('is the workspace owner’s only', async () => {
    const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
    const other = (await app.api.newUser(admin)).token;
    const res = await app.api.get(`/api/v1/workspaces/${ws}/usage`, { token: other });
    expect(res.status).toBe(404);
  });
});

describe('a budget', () => {
  it('max_tokens stops the calls: the items left fail with the reason, the job ends budget_exceeded', async () => {
    const before = fake.requests.length;
    const job = await runJob('fake-priced', { max_tokens: 1 });
    expect(job.status).toBe('budget_exceeded');
    expect(job.error_message).toMatch(/budget was reached: \d+ tokens used of max_tokens 1/);
    // With one call in flight at a time, the overshoot is that one call.
    expect(fake.requests.length - before).toBe(1);
    expect(job.usage.calls).toBe(1);
    expect(job.progress.pending).toBe(0);
    expect(job.progress.failed).toBeGreaterThanOrEqual(2);
    const failures = await app.api.get(`${jobsPath()}/${job.id}/failures`, { token });
    expect(failures.body.data.every((f: { reason: string }) => /budget was reached/.test(f.reason))).toBe(
      true,
    );
  });

  it('max_cost_usd stops a priced job, and needs a price', async () => {
    const before = fake.requests.length;
    const job = await runJob('fake-priced', { max_cost_usd: 0.000001 });
    expect(job.status).toBe('budget_exceeded');
    expect(fake.requests.length - before).toBe(1);
    expect(job.usage.cost_usd).toBeGreaterThan(0.000001);

    const unpriced = await app.api.post(jobsPath(), {
      token,
      json: {
        name: 'No price',
        model: 'fake-unpriced',
        scheme_ids: [schemeId],
        options: { max_cost_usd: 1 },
      },
    });
    expect(unpriced.status).toBe(422);
    expect(JSON.stringify(unpriced.body)).toContain('options.max_cost_usd');
  });

  it('lets a job within its budget complete', async () => {
    const job = await runJob('fake-priced', { max_tokens: 1_000_000, max_cost_usd: 10 });
    expect(job.status).toBe('completed');
  });
});

describe('a job with two schemes', () => {
  it('is estimated as the worker calls: one call a record, near what it was billed, below a call per scheme', async () => {
    const second = await app.api.post(`/api/v1/workspaces/${ws}/classification_schemes`, {
      token,
      json: {
        name: 'Topics',
        description: 'Policy areas',
        fields: [
          {
            name: 'topics',
            description: 'Policy areas the text is about',
            type: 'List[str]',
            is_set_of_labels: true,
            labels: ['Economy', 'Health', 'Other'],
            request_justification: true,
          },
        ],
      },
    });
    expect(second.status).toBe(201);
    const json = {
      name: 'Two schemes',
      model: 'fake-priced',
      scheme_ids: [schemeId, second.body.id],
      datasource_ids: [datasourceId],
    };
    const combined = await app.api.post(jobsPath(), { token, json: { ...json, dry_run: true } });
    const perScheme = await app.api.post(jobsPath(), {
      token,
      json: { ...json, dry_run: true, options: { combine_schemes: false } },
    });
    expect(combined.body.items).toBe(6);
    expect(combined.body.estimated_input_tokens).toBeLessThan(perScheme.body.estimated_input_tokens);

    const before = fake.requests.length;
    const created = await app.api.post(jobsPath(), { token, json });
    const job = await waitForJob(app.api, token, ws, created.body.id);
    expect(job).toMatchObject({ status: 'completed', progress: { succeeded: 6 } });
    const sent = fake.requests.slice(before);
    // Three records, one of them repaired (for the scheme whose part the fake broke): four calls.
    expect(sent).toHaveLength(4);
    expect(job.usage).toMatchObject(billed(sent));
    const firstTurns = sent.filter((r) => r.body.messages.length === 2);
    const billedInput = firstTurns.reduce((n, r) => n + r.usage!.input, 0);
    expect(combined.body.estimated_input_tokens).toBeGreaterThan(billedInput * 0.7);
    expect(combined.body.estimated_input_tokens).toBeLessThan(billedInput * 1.3);
  });
});
