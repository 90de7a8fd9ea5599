import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

// Jobs that stop wanting their calls (cancelled, or their records deleted), and provider errors
// that echo the key: nothing goes out for work nobody wants, nothing of the provider's text
// reaches the tenant.

let app: TestApp;
let fake: FakeLlm;
let token: string;
let ws: string;
let schemeId: string;
const API_KEY = 'sk-Echo-Me-If-You-Dare-42';
const FINISHED = ['completed', 'completed_with_errors', 'failed', 'cancelled'];

beforeAll(async () => {
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = API_KEY;
  process.env.OPENAI_MODELS = 'fake-model';
  process.env.LLM_CONCURRENCY = '2';
  app = await startTestApp({ QUEUE_VISIBILITY_TIMEOUT_SECONDS: '1' });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Cancel' } })).body.id;
  schemeId = await newScheme('Calm');
});
afterAll(async () => {
  await app.stop();
  await fake.close();
});

const base = () => `/api/v1/workspaces/${ws}`;

async function newScheme(name: string): Promise<string> {
  const res = await app.api.post(`${base()}/classification_schemes`, {
    token,
    json: { name, fields: [{ name: 'calm', description: 'Is it calm?', type: 'bool' }] },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

/** A text datasource with `count` records. */
async function newTexts(count: number, prefix: string): Promise<string> {
  const ds = await app.api.post(`${base()}/datasources`, {
    token,
    json: { name: prefix, type: 'text_block', options: { text: `${prefix} record 0` } },
  });
  const id = ds.body.data[0].id;
  await waitForDatasource(app.api, token, ws, id);
  for (let i = 1; i < count; i++) {
    const res = await app.api.post(`${base()}/datasources/${id}/records`, {
      token,
      json: { content: `${prefix} record ${i}`, content_type: 'text' },
    });
    expect(res.status).toBe(201);
  }
  return id;
}

async function newJob(datasourceIds: string[], schemeIds = [schemeId]) {
  const res = await app.api.post(`${base()}/classification_jobs`, {
    token,
    json: {
      name: 'Job',
      scheme_ids: schemeIds,
      datasource_ids: datasourceIds,
      provider: 'openai',
      model: 'fake-model',
    },
  });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function finished(jobId: string) {
  return waitFor('the job to finish', async () => {
    const res = await app.api.get(`${base()}/classification_jobs/${jobId}`, { token });
    return FINISHED.includes(res.body.status) ? res.body : undefined;
  });
}

describe('cancelling a job', () => {
  it('sends none of the calls queued behind the concurrency cap, and aborts the ones in flight', async () => {
    const texts = await newTexts(12, 'cancel');
    fake.reset();
    fake.latencyMs = 5_000;
    const jobId = await newJob([texts]);
    await waitFor('calls in flight', async () => (fake.inFlight >= 2 ? true : undefined));
    const cancel = await app.api.post(`${base()}/classification_jobs/${jobId}/cancel`, { token });
    expect(cancel.status).toBe(200);
    const sentAtCancel = fake.requests.length;
    const cancelledAt = Date.now();
    // In flight: cut short well before their 5 s answer.
    await waitFor(
      'in-flight calls to be aborted',
      async () => (fake.inFlight === 0 ? true : undefined),
      3_000,
    );
    expect(Date.now() - cancelledAt).toBeLessThan(3_000);
    // Queued: never sent, however long one waits.
    await sleep(6_000);
    expect(fake.requests.length).toBe(sentAtCancel);
    const job = (await app.api.get(`${base()}/classification_jobs/${jobId}`, { token })).body;
    expect(job.status).toBe('cancelled');
    expect(job.progress.succeeded).toBe(0);
    expect(job.progress.failed).toBe(0);
    fake.latencyMs = 0;
  }, 40_000);
});

describe('a job whose datasource or scheme is deleted while it runs', () => {
  async function runUntilFirstResult(jobId: string) {
    await waitFor('a first result', async () => {
      const res = await app.api.get(`${base()}/classification_jobs/${jobId}`, { token });
      return res.body.progress.succeeded > 0 ? true : undefined;
    });
  }

  async function resultsOf(jobId: string) {
    const res = await app.api.get(`${base()}/classification_results?job_id=${jobId}&limit=1000`, { token });
    return res.body.data as { record_id: string }[];
  }

  it('ends cancelled with the reason, keeping the results of the records that remain', async () => {
    const kept = await newTexts(4, 'kept');
    const dropped = await newTexts(4, 'dropped');
    fake.reset();
    fake.latencyMs = 400;
    const jobId = await newJob([kept, dropped]);
    await runUntilFirstResult(jobId);
    expect((await app.api.delete(`${base()}/datasources/${dropped}`, { token })).status).toBe(204);
    const job = await finished(jobId);
    fake.latencyMs = 0;
    expect(job.status).toBe('cancelled');
    expect(job.error_message).toMatch(/datasource of the job was deleted/);
    expect(job.progress.succeeded).toBeGreaterThan(0);
    const results = await resultsOf(jobId);
    expect(results).toHaveLength(job.progress.succeeded);
  });

  it('does the same when a scheme goes', async () => {
    const texts = await newTexts(4, 'schemes');
    const doomed = await newScheme('Doomed');
    fake.reset();
    fake.latencyMs = 400;
    const jobId = await newJob([texts], [schemeId, doomed]);
    await runUntilFirstResult(jobId);
    expect((await app.api.delete(`${base()}/classification_schemes/${doomed}`, { token })).status).toBe(204);
    const job = await finished(jobId);
    fake.latencyMs = 0;
    expect(job.status).toBe('cancelled');
    expect(job.error_message).toMatch(/scheme of the job was deleted/);
    expect(job.progress.succeeded).toBeGreaterThan(0);
    expect(await resultsOf(jobId)).toHaveLength(job.progress.succeeded);
  });
});

describe('provider errors', () => {
  // The key as a provider might echo it back: other case, spaced out, split by punctuation.
  const echoes = [
    API_KEY.toUpperCase(),
    [...API_KEY].join(' '),
    API_KEY.toLowerCase().replace(/-/g, ' - '),
    `${API_KEY.slice(0, 10)}***${API_KEY.slice(-4)}`,
  ];

  it('reach the failures as a reason of ours, never as the provider’s text', async () => {
    const texts = await newTexts(echoes.length * 2, 'echo');
    fake.reset();
    let n = 0;
    fake.onRequest(() => {
      const echo = echoes[n % echoes.length]!;
      const status = n++ < echoes.length ? 401 : 400;
      return { kind: 'status', status, message: `Incorrect API key provided: ${echo}. Bearer ${echo}` };
    });
    const job = await finished(await newJob([texts]));
    expect(job.status).toBe('failed');
    const failures = await app.api.get(`${base()}/classification_jobs/${job.id}/failures`, { token });
    expect(failures.body.count).toBe(echoes.length * 2);
    const reasons = new Set(failures.body.data.map((f: { reason: string }) => f.reason));
    expect(reasons).toEqual(
      new Set(['The provider refused the API key', 'The provider rejected the request (400)']),
    );
    const squashed = (text: string) => text.toLowerCase().replace(/[^a-z0-9]/g, '');
    const everything = squashed(JSON.stringify([failures.body, job]));
    for (let i = 0; i + 6 <= API_KEY.length; i++) {
      expect(everything).not.toContain(squashed(API_KEY.slice(i, i + 6)));
    }
    fake.reset();
  });
});
