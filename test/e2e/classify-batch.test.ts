import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PRICES } from '#lib/classify/prices.ts';
import { config } from '#lib/config.ts';
import { platform } from '#lib/platform.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, type FakeRequest, startFakeLlm } from '#test/support/fake-llm.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

// Batch mode over HTTP: the job's items go to the fake's Batch API (files + batches), the
// maintenance sweep polls the batch, and its answers come back through the online validation.
let app: TestApp;
let fake: FakeLlm;
let token: string;
let ws: string;
let schemeIds: string[];
let datasourceId: string;
const RECORDS = 4;
const MODEL = 'gpt-4o-mini';

beforeAll(async () => {
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = 'sk-test-batch-key';
  process.env.OPENAI_MODELS = MODEL;
  // Bedrock configured without batch inference (no role, no S3 location; never called): batch mode refuses it.
  process.env.BEDROCK_MODELS = 'amazon.nova-micro-v1:0';
  app = await startTestApp();
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Batches' } })).body.id;
  schemeIds = [];
  for (const [name, field] of [
    ['Tone', { name: 'intensity', description: '1..5', type: 'int', scale_min: 1, scale_max: 5 }],
    [
      'Topic',
      { name: 'topic', description: 'What about', type: 'str', is_set_of_labels: true, labels: ['a', 'b'] },
    ],
  ] as const) {
    const created = await app.api.post(`/api/v1/workspaces/${ws}/classification_schemes`, {
      token,
      json: { name, description: name, fields: [field] },
    });
    schemeIds.push(created.body.id);
  }
  const ds = (
    await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token,
      json: { name: 'Texts', type: 'text_block', options: { text: 'Record 0 of the batch test.' } },
    })
  ).body.data[0];
  await waitForDatasource(app.api, token, ws, ds.id);
  for (let i = 1; i < RECORDS; i++)
    await app.api.post(`/api/v1/workspaces/${ws}/datasources/${ds.id}/records`, {
      token,
      json: { content: `Record ${i} of the batch test.`, content_type: 'text' },
    });
  datasourceId = ds.id;
});
afterAll(async () => {
  await app?.stop();
  await fake?.close();
  delete process.env.BEDROCK_MODELS;
});

const jobs = () => `/api/v1/workspaces/${ws}/classification_jobs`;
const sweep = () => platform().queue.send(config().taskQueue, [{ kind: 'maintenance' }]);
const online = () => fake.requests.filter((r) => r.batchId === undefined);

async function until<T>(what: string, read: () => Promise<T> | T, done: (v: T) => boolean, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function createBatchJob(name: string, options: object = {}) {
  return app.api.post(jobs(), {
    token,
    json: {
      name,
      scheme_ids: schemeIds,
      datasource_ids: [datasourceId],
      model: MODEL,
      mode: 'batch',
      options,
    },
  });
}

/** What a request cost at gpt-4o-mini's price, halved for a batch's. */
function costOf(r: FakeRequest) {
  const p = DEFAULT_PRICES.openai![MODEL]!;
  const u = r.usage!;
  const dollars = ((u.input - u.cached) * p.input + u.cached * p.cached_input! + u.output * p.output) / 1e6;
  return r.batchId === undefined ? dollars : dollars / 2;
}

describe('batch mode', () => {
  it('submits one batch, a sweep collects it, one invalid answer is repaired online, at the batch price', async () => {
    fake.reset();
    const created = await createBatchJob('Batched');
    expect(created.status).toBe(201);
    expect(created.body.mode).toBe('batch');
    // Sweeps racing the planner's own message: the batch is still submitted once (asserted below).
    await Promise.all([sweep(), sweep()]);
    const [batch] = await until(
      'the batch',
      () => fake.batches,
      (b) => b.length === 1,
    );
    // One request a record (its two schemes share a call), nothing online.
    expect(batch!.request_counts.total).toBe(RECORDS);
    expect(batch!.metadata.docsift_job_id).toBe(created.body.id);
    expect(online()).toHaveLength(0);
    // Sweeps before the provider is done look, and change nothing.
    await Promise.all([sweep(), sweep()]);
    await until(
      'two looks',
      () => fake.batchCalls.filter((c) => c === `GET /v1/batches/${batch!.id}`).length,
      (n) => n >= 2,
    );
    let job = (await app.api.get(`${jobs()}/${created.body.id}`, { token })).body;
    expect(job).toMatchObject({ status: 'running', progress: { pending: RECORDS * 2, succeeded: 0 } });

    // The first line's answer misses its first scheme: that scheme alone gets a repair turn,
    // online. The second line is an error line: its record is asked online from the start.
    fake.script({ kind: 'invalid' }, { kind: 'status', status: 500 });
    expect(fake.completeBatches()).toBe(1);
    // Duplicate polls of the finished batch: its answers are stored once.
    await Promise.all([sweep(), sweep(), sweep()]);
    job = await until(
      'the job',
      async () => (await app.api.get(`${jobs()}/${created.body.id}`, { token })).body,
      (j) => j.status !== 'running',
    );
    expect(job).toMatchObject({ status: 'completed', progress: { succeeded: RECORDS * 2, failed: 0 } });
    const roles = (r: FakeRequest) => r.body.messages.map((m: { role: string }) => m.role).join(',');
    const keys = (r: FakeRequest) => Object.keys((r.schema as { properties: object }).properties);
    const repair = online().filter((r) => roles(r) === 'system,user,assistant,user');
    const retried = online().filter((r) => roles(r) === 'system,user');
    expect(online()).toHaveLength(2);
    expect(repair.map(keys)).toEqual([['Tone']]);
    expect(retried.map(keys)).toEqual([['Tone', 'Topic']]);
    expect(fake.batchCalls.filter((c) => c === 'POST /v1/batches')).toHaveLength(1);

    const results = await app.api.get(
      `/api/v1/workspaces/${ws}/classification_results?job_id=${created.body.id}&limit=100`,
      { token },
    );
    expect(results.body.count).toBe(RECORDS * 2);
    expect(new Set(results.body.data.map((r: any) => `${r.record_id}:${r.scheme_id}`)).size).toBe(
      RECORDS * 2,
    );
    expect(results.body.data.find((r: any) => r.scheme_id === schemeIds[1]).value).toEqual({ topic: 'a' });

    // Usage: three billed batch answers at half price (the error line is not billed), the two
    // online calls at the online price.
    const billed = fake.requests.filter((r) => r.usage);
    const expected = billed.reduce((n, r) => n + costOf(r), 0);
    expect(job.usage.calls).toBe(RECORDS - 1 + 2);
    expect(job.usage.cost_usd).toBeCloseTo(expected, 9);
    const full = billed.reduce((n, r) => n + costOf({ ...r, batchId: undefined } as FakeRequest), 0);
    console.info(
      `batch: ${RECORDS} records × 2 schemes in 1 batch (${RECORDS} requests, 1 error line) + 1 online repair + 1 online retry; cost $${job.usage.cost_usd.toFixed(8)} against $${full.toFixed(8)} all online`,
    );

    // Later sweeps leave a settled batch alone.
    const calls = fake.batchCalls.length;
    await sweep();
    await new Promise((r) => setTimeout(r, 500));
    expect(fake.batchCalls.length).toBe(calls);
    const db = await app.db();
    const rows = await db
      .selectFrom('classification_batches')
      .selectAll()
      .where('job_id', '=', created.body.id)
      .execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      status: 'completed',
      provider_batch_id: batch!.id,
      request_count: RECORDS,
    });
  });

  it('cancelling a batch job cancels its batch at the provider', async () => {
    fake.reset();
    const created = await createBatchJob('Cancelled');
    const [batch] = await until(
      'the batch',
      () => fake.batches,
      (b) => b.length === 1,
    );
    const cancelled = await app.api.post(`${jobs()}/${created.body.id}/cancel`, { token });
    expect(cancelled.body).toMatchObject({ status: 'cancelled', progress: { cancelled: RECORDS * 2 } });
    await until(
      'the provider cancel',
      () => batch!.status,
      (s) => s === 'cancelled',
    );
    expect(fake.batchCalls).toContain(`POST /v1/batches/${batch!.id}/cancel`);
    expect(fake.requests).toHaveLength(0);
    const db = await app.db();
    await until(
      'the batch row',
      () =>
        db
          .selectFrom('classification_batches')
          .select('status')
          .where('provider_batch_id', '=', batch!.id)
          .executeTakeFirst(),
      (row) => row?.status === 'cancelled',
    );
  });

  it('a submission the provider took but whose answer was lost is found by the next sweep, not paid twice', async () => {
    fake.reset();
    fake.loseNextBatchAnswer = true;
    const created = await createBatchJob('Lost answer');
    const [batch] = await until(
      'the batch',
      () => fake.batches,
      (b) => b.length === 1,
    );
    const db = await app.db();
    const row = () =>
      db
        .selectFrom('classification_batches')
        .select(['status', 'provider_batch_id'])
        .where('job_id', '=', created.body.id)
        .executeTakeFirstOrThrow();
    expect(await row()).toMatchObject({ status: 'preparing', provider_batch_id: null });
    await Promise.all([sweep(), sweep()]);
    await until('the batch adopted', row, (r) => r.status === 'submitted');
    expect(await row()).toMatchObject({ provider_batch_id: batch!.id });
    expect(fake.batches).toHaveLength(1);
    expect(fake.batchCalls.filter((c) => c === 'POST /v1/batches')).toHaveLength(1);

    fake.completeBatches();
    await sweep();
    const job = await until(
      'the job',
      async () => (await app.api.get(`${jobs()}/${created.body.id}`, { token })).body,
      (j) => j.status !== 'running',
    );
    expect(job).toMatchObject({ status: 'completed', progress: { succeeded: RECORDS * 2 } });
    expect(online()).toHaveLength(0);
  });

  it('refuses a batch job whose estimate is over its budget, and providers without a batch API', async () => {
    const dryRun = async (mode: 'online' | 'batch') =>
      (
        await app.api.post(jobs(), {
          token,
          json: {
            name: 'E',
            scheme_ids: schemeIds,
            datasource_ids: [datasourceId],
            model: MODEL,
            mode,
            dry_run: true,
          },
        })
      ).body;
    const estimate = await dryRun('online');
    const batchEstimate = await dryRun('batch');
    expect(batchEstimate.estimated_cost_usd).toBeCloseTo(estimate.estimated_cost_usd / 2, 12);

    const overCost = await createBatchJob('Too dear', { max_cost_usd: batchEstimate.estimated_cost_usd / 2 });
    expect(overCost.status).toBe(422);
    expect(overCost.body.errors[0]).toMatchObject({ path: 'options.max_cost_usd' });
    expect(overCost.body.errors[0].message).toMatch(/cannot stop half-way/);
    const overTokens = await createBatchJob('Too long', { max_tokens: 10 });
    expect(overTokens.status).toBe(422);
    expect(overTokens.body.errors[0]).toMatchObject({ path: 'options.max_tokens' });
    const fits = await createBatchJob('Fits', { max_cost_usd: batchEstimate.estimated_cost_usd * 3 });
    expect(fits.status).toBe(201);
    await app.api.post(`${jobs()}/${fits.body.id}/cancel`, { token });

    const bedrock = await app.api.post(jobs(), {
      token,
      json: { name: 'B', scheme_ids: schemeIds, provider: 'bedrock', mode: 'batch' },
    });
    expect(bedrock.status).toBe(422);
    expect(bedrock.body.errors[0]).toMatchObject({ path: 'mode' });
    expect(bedrock.body.errors[0].message).toMatch(
      /needs Bedrock batch inference, which this server does not have/,
    );
  });
});
