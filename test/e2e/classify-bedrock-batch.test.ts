import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { DEFAULT_PRICES } from '#lib/classify/prices.ts';
import { config } from '#lib/config.ts';
import { platform } from '#lib/platform.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, type FakeRequest, startFakeLlm } from '#test/support/fake-llm.ts';
import { makeCsv } from '#test/support/fixtures.ts';
import { allRecords, sendUpload, waitForDatasource } from '#test/support/ingest.ts';

// Batch mode on Bedrock, on the aws platform against moto: the items go to S3 as JSONL and out
// as a model invocation job (the fake's control plane, which reads and writes moto's S3), the
// maintenance sweep polls it, and its answers come back through the online validation.
let app: TestApp;
let fake: FakeLlm;
let token: string;
let ws: string;
let schemeId: string;
let datasourceId: string;
let recordIds: string[];
const RECORDS = 101;
const MODEL = 'amazon.nova-micro-v1:0';
const suffix = randomBytes(4).toString('hex');
const bucket = `docsift-test-${suffix}`;

beforeAll(async () => {
  const moto = inject('motoEndpoint');
  fake = await startFakeLlm({ s3Endpoint: moto });
  process.env.AWS_ENDPOINT_URL = moto;
  process.env.AWS_ENDPOINT_URL_BEDROCK_RUNTIME = fake.url;
  process.env.AWS_ENDPOINT_URL_BEDROCK = fake.url;
  process.env.BEDROCK_MODELS = MODEL;
  process.env.BEDROCK_BATCH_ROLE_ARN = 'arn:aws:iam::123456789012:role/docsift-bedrock-batch';
  process.env.BEDROCK_BATCH_S3_URI = `s3://${bucket}/bedrock-batch/`;
  app = await startTestApp({
    PLATFORM: 'aws',
    UPLOADS_BUCKET: bucket,
    INGEST_QUEUE: `docsift-ingest-${suffix}`,
    CLASSIFY_QUEUE: `docsift-classify-${suffix}`,
    TASK_QUEUE: `docsift-tasks-${suffix}`,
    QUEUE_VISIBILITY_TIMEOUT_SECONDS: '1',
  });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Bedrock batches' } })).body.id;
  schemeId = (
    await app.api.post(`/api/v1/workspaces/${ws}/classification_schemes`, {
      token,
      json: {
        name: 'Stance',
        fields: [
          {
            name: 'stance',
            description: 'For or against',
            type: 'str',
            is_set_of_labels: true,
            labels: ['for', 'against'],
          },
        ],
      },
    })
  ).body.id;
  const source = (
    await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token,
      json: { name: 'Speeches', type: 'csv', options: {} },
    })
  ).body.data[0];
  const rows = [
    ['text'],
    ...Array.from({ length: RECORDS }, (_, i) => [`Speech ${i}: we support the rail line.`]),
  ];
  expect((await sendUpload(source.upload, makeCsv(rows), 'speeches.csv')).status).toBe(204);
  expect(await waitForDatasource(app.api, token, ws, source.id)).toMatchObject({ record_count: RECORDS });
  datasourceId = source.id;
  recordIds = (await allRecords(app.api, token, ws, source.id)).map((r) => r.id);
}, 60_000);
afterAll(async () => {
  await app?.stop();
  await fake?.close();
  for (const name of [
    'AWS_ENDPOINT_URL_BEDROCK',
    'BEDROCK_MODELS',
    'BEDROCK_BATCH_ROLE_ARN',
    'BEDROCK_BATCH_S3_URI',
  ])
    delete process.env[name];
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
    await new Promise((r) => setTimeout(r, 100));
  }
}

function createBatchJob(name: string, target: object = { datasource_ids: [datasourceId] }) {
  return app.api.post(jobs(), {
    token,
    json: { name, scheme_ids: [schemeId], provider: 'bedrock', model: MODEL, mode: 'batch', ...target },
  });
}

const readJob = async (id: string) => (await app.api.get(`${jobs()}/${id}`, { token })).body;
const finished = (id: string) =>
  until(
    'the job',
    () => readJob(id),
    (j) => j.status !== 'pending' && j.status !== 'running',
  );
/**
 * Waits until the job is planned, then sweeps: the planner sends a batch's first advance_batch
 * before its transaction commits, and a consumer quicker than the commit finds no batch yet
 * (SQS here delivers that fast), leaving the batch to the next maintenance sweep.
 */
async function plannedThenSweep(id: string) {
  await until(
    'the planning',
    () => readJob(id),
    (j) => j.planned === true,
  );
  await sweep();
}
const batchRows = async (jobId: string) =>
  (await app.db()).selectFrom('classification_batches').selectAll().where('job_id', '=', jobId).execute();

/** What a request cost at Nova Micro's price, halved for a batch's. */
function costOf(r: FakeRequest) {
  const p = DEFAULT_PRICES.bedrock![MODEL]!;
  const u = r.usage!;
  const dollars = ((u.input - u.cached) * p.input + u.cached * p.cached_input! + u.output * p.output) / 1e6;
  return r.batchId === undefined ? dollars : dollars / 2;
}

describe('Bedrock batch inference', () => {
  it('runs a job as one model invocation job; an invalid answer is repaired and an error line retried online', async () => {
    fake.reset();
    const created = await createBatchJob('Batched');
    expect(created.status).toBe(201);
    await plannedThenSweep(created.body.id);
    const [job] = await until(
      'the Bedrock job',
      () => fake.bedrockJobs,
      (j) => j.length === 1,
    );
    expect(job).toMatchObject({ modelId: MODEL, modelInvocationType: 'Converse', status: 'Submitted' });
    expect(job!.inputDataConfig.s3InputDataConfig.s3Uri).toMatch(`s3://${bucket}/bedrock-batch/input/`);
    expect(online()).toHaveLength(0);
    // Sweeps before Bedrock is done look, and change nothing.
    await Promise.all([sweep(), sweep()]);
    await until(
      'two looks',
      () => fake.batchCalls.filter((c) => c === `GET /model-invocation-job/${job!.jobArn}`).length,
      (n) => n >= 2,
    );
    expect(await readJob(created.body.id)).toMatchObject({
      status: 'running',
      progress: { pending: RECORDS, succeeded: 0 },
    });

    // The first line's answer breaks the schema: it gets its repair turn online. The second is
    // an error line: its record is asked online from the start.
    fake.script({ kind: 'invalid' }, { kind: 'status', status: 500 });
    expect(await fake.completeBedrockJobs()).toBe(1);
    expect(job!.status).toBe('PartiallyCompleted');
    await Promise.all([sweep(), sweep()]);
    const done = await finished(created.body.id);
    expect(done).toMatchObject({ status: 'completed', progress: { succeeded: RECORDS, failed: 0 } });
    const roles = (r: FakeRequest) => r.body.messages.map((m: { role: string }) => m.role).join(',');
    expect(online().map(roles).sort()).toEqual(['user', 'user,assistant,user']);
    expect(fake.batchCalls.filter((c) => c === 'POST /model-invocation-job')).toHaveLength(1);

    const results = await app.api.get(
      `/api/v1/workspaces/${ws}/classification_results?job_id=${created.body.id}&limit=1000`,
      { token },
    );
    expect(results.body.count).toBe(RECORDS);
    expect(new Set(results.body.data.map((r: any) => r.record_id)).size).toBe(RECORDS);
    expect(results.body.data[0].value).toEqual({ stance: 'for' });

    // The batch's answers at half price (the error line is not billed), the two online calls at full price.
    const billed = fake.requests.filter((r) => r.usage);
    expect(done.usage.calls).toBe(RECORDS - 1 + 2);
    expect(done.usage.cost_usd).toBeCloseTo(
      billed.reduce((n, r) => n + costOf(r), 0),
      9,
    );
    expect(await batchRows(created.body.id)).toEqual([
      expect.objectContaining({
        status: 'completed',
        provider_batch_id: job!.jobArn,
        provider_status: 'partially_completed',
        request_count: RECORDS,
      }),
    ]);
  });

  it('sends a batch below Bedrock’s minimum of 100 records online', async () => {
    fake.reset();
    const created = await createBatchJob('Few', { record_ids: recordIds.slice(0, 3) });
    expect(created.status).toBe(201);
    await plannedThenSweep(created.body.id);
    const done = await finished(created.body.id);
    expect(done).toMatchObject({ status: 'completed', progress: { succeeded: 3, failed: 0 } });
    expect(fake.bedrockJobs).toHaveLength(0);
    expect(fake.batchCalls).toEqual([]);
    expect(online()).toHaveLength(3);
    expect(await batchRows(created.body.id)).toEqual([
      expect.objectContaining({
        status: 'cancelled',
        provider_batch_id: null,
        error_message: "3 requests, fewer than the provider's minimum of 100 a batch: sent online",
      }),
    ]);
  });

  it('sends a batch the provider refuses for good online (a model without batch inference)', async () => {
    fake.reset();
    fake.refuseBedrockJobs = 'The model does not support batch inference';
    const created = await createBatchJob('Refused');
    await plannedThenSweep(created.body.id);
    const done = await finished(created.body.id);
    expect(done).toMatchObject({ status: 'completed', progress: { succeeded: RECORDS, failed: 0 } });
    expect(fake.batchCalls).toContain('POST /model-invocation-job');
    expect(fake.bedrockJobs).toHaveLength(0);
    expect(online()).toHaveLength(RECORDS);
    expect(await batchRows(created.body.id)).toEqual([
      expect.objectContaining({
        status: 'cancelled',
        provider_batch_id: null,
        error_message:
          'The provider refused the batch (The provider rejected the request (400)): sent online',
      }),
    ]);
  });

  it('cancelling the job stops its model invocation job', async () => {
    fake.reset();
    const created = await createBatchJob('Cancelled');
    await plannedThenSweep(created.body.id);
    const [job] = await until(
      'the Bedrock job',
      () => fake.bedrockJobs,
      (j) => j.length === 1,
    );
    // Its row is submitted once the job exists; cancel after, so the stop has an ARN to name.
    await until(
      'the submitted row',
      () => batchRows(created.body.id),
      (rows) => rows[0]?.status === 'submitted',
    );
    const cancelled = await app.api.post(`${jobs()}/${created.body.id}/cancel`, { token });
    expect(cancelled.body).toMatchObject({ status: 'cancelled', progress: { cancelled: RECORDS } });
    await until(
      'the stop',
      () => job!.status,
      (s) => s === 'Stopped',
    );
    expect(fake.batchCalls).toContain(`POST /model-invocation-job/${job!.jobArn}/stop`);
    expect(fake.requests).toHaveLength(0);
    await until(
      'the batch row',
      () => batchRows(created.body.id),
      (rows) => rows[0]?.status === 'cancelled',
    );
  });
});
