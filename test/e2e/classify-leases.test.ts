import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClassifyItems } from '#lib/classify/messages.ts';
import { llm } from '#lib/classify/providers.ts';
import { newId } from '#lib/ids.ts';
import { logger } from '#lib/logger.ts';
import { platform } from '#lib/platform.ts';
import { handleClassifyMessage } from '#lib/services/classification.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, type FakeRequest, findRecordText, startFakeLlm } from '#test/support/fake-llm.ts';
import { waitForDatasource } from '#test/support/ingest.ts';
import { waitForJob as waitForJobOf } from '#test/support/jobs.ts';

// An item is classified by the one delivery that holds its lease: duplicate deliveries, however
// many and however they overlap, make one provider call per item, and a lease whose holder died
// is taken over once it runs out.

const QUEUE = 'docsift-classify';
const RECORDS = 6;

let app: TestApp;
let fake: FakeLlm;
let token: string;
let ws: string;
let datasourceId: string;
/** Scheme id by the name of its one field, which tells the scheme of a single-scheme request. */
const schemeByField = new Map<string, string>();
/** Scheme id by name, which keys a combined request. */
const schemeByName = new Map<string, string>();

beforeAll(async () => {
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = 'sk-test-leases';
  process.env.OPENAI_MODELS = 'fake-model';
  process.env.LLM_CONCURRENCY = '8';
  app = await startTestApp({ QUEUE_VISIBILITY_TIMEOUT_SECONDS: '1' });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Leases' } })).body.id;
  for (const [name, field] of [
    ['Calm', 'calm'],
    ['Formal', 'formal'],
  ]) {
    const res = await app.api.post(`/api/v1/workspaces/${ws}/classification_schemes`, {
      token,
      json: { name, fields: [{ name: field, description: `Is it ${field}?`, type: 'bool' }] },
    });
    expect(res.status).toBe(201);
    schemeByField.set(field!, res.body.id);
    schemeByName.set(name!, res.body.id);
  }
  const ds = await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
    token,
    json: { name: 'Texts', type: 'text_block', options: { text: 'Record 0 about the budget.' } },
  });
  datasourceId = ds.body.data[0].id;
  await waitForDatasource(app.api, token, ws, datasourceId);
  for (let i = 1; i < RECORDS; i++) {
    await app.api.post(`/api/v1/workspaces/${ws}/datasources/${datasourceId}/records`, {
      token,
      json: { content: `Record ${i} about the budget.`, content_type: 'text' },
    });
  }
});
afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

const jobsPath = () => `/api/v1/workspaces/${ws}/classification_jobs`;

const waitForJob = (id: string) => waitForJobOf(app.api, token, ws, id);

/**
 * A job over the records and both schemes whose items are all pending again and that sends
 * nothing by itself: its messages are the test's to deliver.
 */
async function pendingJob(options: Record<string, unknown> = {}) {
  const res = await app.api.post(jobsPath(), {
    token,
    json: { name: 'Leased', scheme_ids: [...schemeByName.values()], datasource_ids: [datasourceId], options },
  });
  expect(res.status).toBe(201);
  await waitForJob(res.body.id);
  const db = await app.db();
  await db
    .updateTable('classification_items')
    .set({ status: 'pending', attempts: 0, lease_owner: null, lease_expires_at: null })
    .where('job_id', '=', res.body.id)
    .execute();
  await db.deleteFrom('classification_results').where('job_id', '=', res.body.id).execute();
  await db.deleteFrom('llm_usage').where('job_id', '=', res.body.id).execute();
  await sql`UPDATE classification_jobs SET status = 'running', finished_at = NULL, used_tokens = 0, used_cost_usd = 0
    WHERE id = ${res.body.id}`.execute(db);
  const items = await db
    .selectFrom('classification_items')
    .select(['record_id', 'scheme_id'])
    .where('job_id', '=', res.body.id)
    .orderBy('record_id')
    .orderBy('scheme_id')
    .execute();
  const texts = new Map(
    (
      await db
        .selectFrom('records')
        .select(['id', 'text_content'])
        .where('datasource_id', '=', datasourceId)
        .execute()
    ).map((r) => [r.text_content, r.id]),
  );
  fake.reset();
  return { id: res.body.id as string, items, texts };
}

/** The (record, scheme) items a provider request asked for, from its record text and schema. */
function itemsOf(request: FakeRequest, texts: Map<string, string>): string[] {
  const record = texts.get(findRecordText(request.userText).trim());
  const schema = request.schema as { properties: Record<string, { properties?: Record<string, unknown> }> };
  const schemes = schema.properties.values
    ? Object.keys(schema.properties.values.properties!).map((f) => schemeByField.get(f))
    : Object.keys(schema.properties).map((name) => schemeByName.get(name));
  return schemes.map((s) => `${record}/${s}`);
}

/** How many provider calls asked for each item. */
function callsPerItem(texts: Map<string, string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const request of fake.requests) {
    for (const item of itemsOf(request, texts)) counts.set(item, (counts.get(item) ?? 0) + 1);
  }
  return counts;
}

const key = (i: { record_id: string; scheme_id: string }) => `${i.record_id}/${i.scheme_id}`;

/** Messages of the job still waiting in the classify queue for a later start (sent again for a lease's end). */
async function deferredMessages(jobId: string): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM pgboss.job
    WHERE name = ${QUEUE} AND (data->>'body')::jsonb->>'job_id' = ${jobId}
      AND start_after > created_on + interval '500 milliseconds'`.execute(await app.db());
  return rows[0]!.n;
}

describe('duplicate deliveries', () => {
  it.each([
    ['a record’s schemes in one call', {}],
    ['one call per scheme', { combine_schemes: false }],
  ])(
    'make exactly one provider call per item (%s)',
    async (_, options) => {
      const job = await pendingJob(options);
      // Long enough that the copies arrive while the first holder's calls are out.
      fake.latencyMs = 400;
      try {
        const whole: ClassifyItems = { kind: 'classify_items', job_id: job.id, items: job.items };
        const perRecord = [...new Set(job.items.map((i) => i.record_id))].map(
          (record): ClassifyItems => ({
            kind: 'classify_items',
            job_id: job.id,
            items: job.items.filter((i) => i.record_id === record),
          }),
        );
        // Four copies of the whole set and overlapping slices of it, all at once.
        await platform().queue.send(QUEUE, [
          whole,
          ...perRecord,
          whole,
          whole,
          ...perRecord.reverse(),
          whole,
        ]);
        const done = await waitForJob(job.id);
        expect(done).toMatchObject({
          status: 'completed',
          progress: { total: job.items.length, succeeded: job.items.length, failed: 0, pending: 0 },
        });
        const calls = callsPerItem(job.texts);
        expect([...calls.keys()].sort()).toEqual(job.items.map(key).sort());
        expect([...calls.values()].every((n) => n === 1)).toBe(true);
        expect(fake.requests).toHaveLength('combine_schemes' in options ? job.items.length : RECORDS);
        // The losers of the race were sent again for later, not called: their usage is nobody's.
        expect(await deferredMessages(job.id)).toBeGreaterThan(0);
        expect(done.usage.calls).toBe(fake.requests.length);
        const results = await app.api.get(
          `/api/v1/workspaces/${ws}/classification_results?job_id=${job.id}&limit=100`,
          {
            token,
          },
        );
        expect(results.body.count).toBe(job.items.length);
      } finally {
        fake.latencyMs = 0;
      }
    },
    60_000,
  );
});

describe('a lease', () => {
  it('left by a crashed worker is taken over once it runs out, not before', async () => {
    const job = await pendingJob();
    const db = await app.db();
    // A holder that claimed every item and died: its lease runs 3 s more.
    const { rows } = await sql<{ until: Date }>`
      UPDATE classification_items SET lease_owner = ${newId()}, attempts = 1,
        lease_expires_at = clock_timestamp() + interval '3 seconds'
      WHERE job_id = ${job.id} RETURNING lease_expires_at AS until`.execute(db);
    const until = rows[0]!.until.getTime();
    let firstCallAt: number | undefined;
    fake.onRequest(() => {
      firstCallAt ??= Date.now();
      return undefined;
    });
    // Its message comes back (the queue's redelivery): the items wait for the lease.
    await platform().queue.send(QUEUE, [{ kind: 'classify_items', job_id: job.id, items: job.items }]);
    const done = await waitForJob(job.id);
    expect(done).toMatchObject({ status: 'completed', progress: { succeeded: job.items.length } });
    expect(firstCallAt).toBeGreaterThanOrEqual(until - 50);
    const calls = callsPerItem(job.texts);
    expect(calls.size).toBe(job.items.length);
    expect([...calls.values()].every((n) => n === 1)).toBe(true);
    expect(fake.requests).toHaveLength(RECORDS);
    const attempts = await db
      .selectFrom('classification_items')
      .select(['attempts', 'lease_owner'])
      .where('job_id', '=', job.id)
      .execute();
    // Claimed once more, and given up on settling.
    expect(attempts.every((a) => a.attempts === 2 && a.lease_owner === null)).toBe(true);
  }, 30_000);

  it('is renewed while its holder works: a copy arriving after the lease’s length still makes no call', async () => {
    const job = await pendingJob();
    const providers = llm();
    const deps = {
      db: await app.db(),
      queue: platform().queue,
      log: logger,
      provider: (name: string) => providers.providers.get(name),
      // A one-second lease, renewed every third of a second; each call takes 2.5 s.
      settings: { classifyQueue: QUEUE, leaseSeconds: 1 },
    };
    fake.latencyMs = 2500;
    try {
      const body = JSON.stringify({ kind: 'classify_items', job_id: job.id, items: job.items });
      const holder = handleClassifyMessage(deps, body);
      await new Promise((r) => setTimeout(r, 1500));
      // Past the lease's first length: only a renewal keeps this copy from calling.
      await handleClassifyMessage(deps, body);
      await holder;
    } finally {
      fake.latencyMs = 0;
    }
    expect(fake.requests).toHaveLength(RECORDS);
    expect([...callsPerItem(job.texts).values()].every((n) => n === 1)).toBe(true);
    expect(await deferredMessages(job.id)).toBeGreaterThan(0);
    expect((await waitForJob(job.id)).progress).toMatchObject({ succeeded: job.items.length, pending: 0 });
  }, 30_000);
});

describe('a dead-lettered message', () => {
  it('fails the items nobody holds and leaves those under a live lease to their holder', async () => {
    const job = await pendingJob();
    const db = await app.db();
    const [held, ...free] = job.items;
    await db
      .updateTable('classification_items')
      .set({ lease_owner: newId(), lease_expires_at: sql<Date>`clock_timestamp() + interval '1 minute'` })
      .where('job_id', '=', job.id)
      .where('record_id', '=', held!.record_id)
      .where('scheme_id', '=', held!.scheme_id)
      .execute();
    await platform().queue.send(`${QUEUE}-dlq`, [
      { kind: 'classify_items', job_id: job.id, items: job.items },
    ]);
    const deadline = Date.now() + 10_000;
    let progress: Record<string, number> = {};
    while (Date.now() < deadline) {
      progress = (await app.api.get(`${jobsPath()}/${job.id}`, { token })).body.progress;
      if (progress.failed === free.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(progress).toMatchObject({ failed: free.length, pending: 1 });
    expect(fake.requests).toHaveLength(0);
  });
});
