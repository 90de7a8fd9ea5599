import { afterAll, beforeAll, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

let app: TestApp;
let fake: FakeLlm;
let token: string;
let admin: string;
let ws: string;
let schemeId: string;
let datasourceId: string;
const RECORDS = 40;

beforeAll(async () => {
  // Several calls in flight at once: the budget's overshoot is bounded by them, not by the job.
  fake = await startFakeLlm({ latencyMs: 50 });
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = 'sk-test-budget-key';
  process.env.OPENAI_MODELS = 'gpt-4o-mini';
  process.env.LLM_CONCURRENCY = '4';
  app = await startTestApp({ QUEUE_VISIBILITY_TIMEOUT_SECONDS: '5' });
  admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Budget' } })).body.id;
  schemeId = (
    await app.api.post(`/api/v1/workspaces/${ws}/classification_schemes`, {
      token,
      json: {
        name: 'Tone',
        description: 'How it sounds',
        fields: [{ name: 'intensity', description: '1..5', type: 'int', scale_min: 1, scale_max: 5 }],
      },
    })
  ).body.id;
  const ds = (
    await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token,
      json: { name: 'Texts', type: 'text_block', options: { text: 'Record 0 of the budget test.' } },
    })
  ).body.data[0];
  await waitForDatasource(app.api, token, ws, ds.id);
  for (let i = 1; i < RECORDS; i++) {
    await app.api.post(`/api/v1/workspaces/${ws}/datasources/${ds.id}/records`, {
      token,
      json: { content: `Record ${i} of the budget test.`, content_type: 'text' },
    });
  }
  datasourceId = ds.id;
});
afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

it('stops concurrent workers at a budget, overshooting by at most the calls in flight', async () => {
  const jobs = `/api/v1/workspaces/${ws}/classification_jobs`;
  const estimate = await app.api.post(jobs, {
    token,
    json: { name: 'Estimate', scheme_ids: [schemeId], datasource_ids: [datasourceId], dry_run: true },
  });
  expect(estimate.body.items).toBe(RECORDS);
  // About five calls' worth of tokens, by the estimate.
  const maxTokens = Math.round(
    ((estimate.body.estimated_input_tokens + estimate.body.estimated_output_tokens) / RECORDS) * 5,
  );
  const created = await app.api.post(jobs, {
    token,
    json: {
      name: 'Budgeted',
      scheme_ids: [schemeId],
      datasource_ids: [datasourceId],
      options: { max_tokens: maxTokens },
    },
  });
  expect(created.status).toBe(201);
  let job: any;
  const deadline = Date.now() + 40_000;
  do {
    await new Promise((r) => setTimeout(r, 100));
    job = (await app.api.get(`${jobs}/${created.body.id}`, { token })).body;
  } while ((job.status === 'running' || job.status === 'pending') && Date.now() < deadline);
  expect(job.status).toBe('budget_exceeded');
  // The calls in flight at the stop are aborted within the watcher's second, or answer: settle.
  await new Promise((r) => setTimeout(r, 1500));
  job = (await app.api.get(`${jobs}/${created.body.id}`, { token })).body;
  const spent = job.usage.input_tokens + job.usage.output_tokens;
  expect(spent).toBeGreaterThanOrEqual(maxTokens);
  // Calls sent past the budget: those that passed their check before the spend that crossed it
  // landed. Some were aborted in flight (sent, but no usage came back to record).
  const perCall = spent / job.usage.calls;
  const needed = Math.ceil(maxTokens / perCall);
  const sent = fake.requests.length;
  expect(sent - needed).toBeLessThanOrEqual(fake.maxConcurrent);
  expect(job.usage.calls).toBeLessThanOrEqual(sent);
  expect(sent).toBeLessThan(RECORDS);
  expect(job.progress.pending).toBe(0);
  // One job.budget_exceeded event, with the reason and the items' counts, published.
  const events = await (await app.db())
    .selectFrom('event_outbox')
    .selectAll()
    .where('type', 'like', 'job.%')
    .execute();
  expect(events).toEqual([
    expect.objectContaining({
      type: 'job.budget_exceeded',
      workspace_id: ws,
      sent_at: expect.any(Date),
      data: expect.objectContaining({
        job_id: job.id,
        status: 'budget_exceeded',
        reason: expect.stringMatching(/budget was reached/),
        counts: expect.objectContaining({ failed: expect.any(Number), succeeded: expect.any(Number) }),
      }),
    }),
  ]);
  // The same counts in the metrics: items by outcome, and the job's end by status.
  const metrics = (await app.api.get('/api/v1/metrics', { token: admin })).text;
  const value = (name: string) =>
    Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
  expect(value('docsift_items_classified_total')).toBe(job.progress.succeeded);
  expect(value('docsift_items_failed_total')).toBe(job.progress.failed);
  expect(metrics).toMatch(/^docsift_jobs_finished_total\{status="budget_exceeded"\} 1$/m);
  console.info(
    `budget: max_tokens ${maxTokens} (~${needed} calls), ${sent} calls sent, ${job.usage.calls} billed and recorded (${spent} tokens), at most ${fake.maxConcurrent} in flight, ${job.progress.failed} items stopped`,
  );
});
