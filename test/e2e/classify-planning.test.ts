import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newId } from '#lib/ids.ts';
import { platform } from '#lib/platform.ts';
import { insertJob } from '#lib/services/jobs.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { makeCsv } from '#test/support/fixtures.ts';
import { sendUpload, waitForDatasource } from '#test/support/ingest.ts';

// Job creation does bounded work: the request writes the job, and the planner creates its work
// items a chunk of records at a time (CLASSIFY_PLAN_CHUNK_RECORDS, lowered here), chaining one
// plan_job message per chunk. Duplicates of any of those messages create and send nothing twice.

const CHUNK = 150;
const ROWS = 1000;
const QUEUE = 'docsift-classify';
const FINISHED = ['completed', 'completed_with_errors', 'failed', 'cancelled'];

let app: TestApp;
let fake: FakeLlm;
let token: string;
let ws: string;
let schemeIds: string[];
let bigDs: string;
let smallDs: string;
let smallRecords: string[];
/** Texts of this pattern get answers that stay invalid, while set. */
let failing: RegExp | undefined;

beforeAll(async () => {
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = 'sk-planning';
  process.env.OPENAI_MODELS = 'fake-model';
  process.env.LLM_CONCURRENCY = '8';
  fake.onRequest((request) => (failing?.test(request.userText) ? { kind: 'invalid' } : undefined));
  app = await startTestApp({
    QUEUE_VISIBILITY_TIMEOUT_SECONDS: '1',
    CLASSIFY_PLAN_CHUNK_RECORDS: String(CHUNK),
  });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Planning' } })).body.id;
  schemeIds = [];
  for (const name of ['Calm', 'Long']) {
    const res = await app.api.post(`${base()}/classification_schemes`, {
      token,
      json: { name, fields: [{ name: name.toLowerCase(), description: `Is it ${name}?`, type: 'bool' }] },
    });
    expect(res.status).toBe(201);
    schemeIds.push(res.body.id);
  }

  const rows = [['n', 'statement']];
  for (let i = 1; i <= ROWS; i++) rows.push([String(i), `Statement ${i} on the budget`]);
  const csv = (await app.api.post(`${base()}/datasources`, { token, json: { name: 'Big', type: 'csv' } }))
    .body.data[0];
  expect((await sendUpload(csv.upload, makeCsv(rows), 'big.csv')).status).toBe(204);
  expect(await waitForDatasource(app.api, token, ws, csv.id, 60_000)).toMatchObject({
    status: 'complete',
    record_count: ROWS,
  });
  bigDs = csv.id;

  const text = await app.api.post(`${base()}/datasources`, {
    token,
    json: { name: 'Small', type: 'text_block', options: { text: 'Small record 0' } },
  });
  smallDs = text.body.data[0].id;
  await waitForDatasource(app.api, token, ws, smallDs);
  for (let i = 1; i < 6; i++) {
    const res = await app.api.post(`${base()}/datasources/${smallDs}/records`, {
      token,
      json: { content: `Small record ${i}`, content_type: 'text' },
    });
    expect(res.status).toBe(201);
  }
  const db = await app.db();
  smallRecords = (
    await db.selectFrom('records').select('id').where('datasource_id', '=', smallDs).orderBy('id').execute()
  ).map((r) => r.id);
  expect(smallRecords).toHaveLength(6);
}, 120_000);
afterAll(async () => {
  await app.stop();
  await fake.close();
});

function base() {
  return `/api/v1/workspaces/${ws}`;
}

async function waitForJob(id: string, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await app.api.get(`${base()}/classification_jobs/${id}`, { token });
    if (FINISHED.includes(res.body.status)) return res.body;
    if (Date.now() > deadline)
      throw new Error(`job still ${res.body.status}: ${JSON.stringify(res.body.progress)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The classify queue's messages about a job, as sent (pg-boss keeps completed ones). */
async function messagesOf(jobId: string) {
  const { rows } = await sql<{ kind: string; after: string | null; items: number | null }>`
    SELECT m->>'kind' AS kind, m->>'after' AS after, jsonb_array_length(m->'items') AS items
    FROM (SELECT (data->>'body')::jsonb AS m FROM pgboss.job WHERE name = ${QUEUE}) j
    WHERE m->>'job_id' = ${jobId}`.execute(await app.db());
  return {
    plans: rows.filter((r) => r.kind === 'plan_job'),
    classify: rows.filter((r) => r.kind === 'classify_items'),
  };
}

/** Rows of the job's items and results, and whether any (record, scheme) repeats among results. */
async function countsOf(jobId: string) {
  const db = await app.db();
  const { rows } = await sql<{ items: number; results: number; distinct_results: number }>`
    SELECT (SELECT count(*)::int FROM classification_items WHERE job_id = ${jobId}) AS items,
           (SELECT count(*)::int FROM classification_results WHERE job_id = ${jobId}) AS results,
           (SELECT count(DISTINCT (record_id, scheme_id))::int FROM classification_results
             WHERE job_id = ${jobId}) AS distinct_results`.execute(db);
  return rows[0]!;
}

describe('a job over thousands of records', () => {
  it('is created at once and planned in chunks, a duplicated first message changing nothing, one result per item', async () => {
    const started = performance.now();
    const res = await app.api.post(`${base()}/classification_jobs`, {
      token,
      json: { name: 'Big', scheme_ids: schemeIds, datasource_ids: [bigDs] },
    });
    const createMs = performance.now() - started;
    expect(res.status).toBe(201);
    // The request made the job only: the items are the planner's.
    expect(res.body).toMatchObject({ status: 'pending', planned: false, progress: { total: 0 } });
    // The first plan_job delivered three times at once: the chain moves once per chunk.
    const first = { kind: 'plan_job', job_id: res.body.id };
    await platform().queue.send(QUEUE, [first, first]);

    // A later chunk's message, duplicated while the job runs.
    let midChain: { after: string } | undefined;
    for (let i = 0; i < 100 && !midChain; i++) {
      midChain = (await messagesOf(res.body.id)).plans.find((p) => p.after !== null) as typeof midChain;
      if (!midChain) await new Promise((r) => setTimeout(r, 50));
    }
    expect(midChain).toBeDefined();
    await platform().queue.send(QUEUE, [{ ...first, after: midChain!.after }]);

    const done = await waitForJob(res.body.id);
    const total = ROWS * schemeIds.length;
    expect(done).toMatchObject({
      status: 'completed',
      planned: true,
      progress: { total, succeeded: total, failed: 0, pending: 0 },
    });
    expect(await countsOf(res.body.id)).toEqual({ items: total, results: total, distinct_results: total });

    const messages = await messagesOf(res.body.id);
    const chunks = Math.ceil(ROWS / CHUNK);
    // One plan_job per chunk chained by the planner, plus the three copies we sent.
    expect(messages.plans).toHaveLength(chunks + 3);
    expect(new Set(messages.plans.map((p) => p.after)).size).toBe(chunks);
    // Every item sent exactly once, a record's items in one message: no chunk was sent twice.
    expect(messages.classify.reduce((n, m) => n + m.items!, 0)).toBe(total);
    expect(messages.classify.every((m) => m.items! % schemeIds.length === 0)).toBe(true);
    // One call per record: its two schemes share it.
    expect(fake.requests.length).toBe(ROWS);
    console.info(`job creation over ${total} items answered in ${Math.round(createMs)} ms`);
  }, 180_000);

  it('honours max_records across chunks', async () => {
    const res = await app.api.post(`${base()}/classification_jobs`, {
      token,
      json: {
        name: 'Capped',
        scheme_ids: [schemeIds[0]],
        datasource_ids: [bigDs],
        options: { max_records: 2 * CHUNK + 7 },
      },
    });
    expect(res.status).toBe(201);
    const done = await waitForJob(res.body.id);
    expect(done).toMatchObject({ status: 'completed', progress: { total: 2 * CHUNK + 7 } });
    // The first records by id, as before chunking.
    const db = await app.db();
    const firstIds = (
      await db
        .selectFrom('records')
        .select('id')
        .where('datasource_id', '=', bigDs)
        .orderBy('id')
        .limit(2 * CHUNK + 7)
        .execute()
    ).map((r) => r.id);
    const planned = (
      await db
        .selectFrom('classification_items')
        .select('record_id')
        .where('job_id', '=', res.body.id)
        .orderBy('record_id')
        .execute()
    ).map((r) => r.record_id);
    expect(planned).toEqual(firstIds);
  }, 60_000);
});

describe('retrying a job planned in several chunks', () => {
  it('runs again the failed items of every chunk, and finishes only once it has walked them all', async () => {
    const records = 2 * CHUNK + 50;
    failing = /Statement \d*7 on/;
    const res = await app.api.post(`${base()}/classification_jobs`, {
      token,
      json: {
        name: 'Flaky',
        scheme_ids: [schemeIds[1]],
        datasource_ids: [bigDs],
        options: { max_records: records },
      },
    });
    const first = await waitForJob(res.body.id);
    expect(first.status).toBe('completed_with_errors');
    const failed = first.progress.failed;
    expect(failed).toBeGreaterThan(records / 20);
    const failures = await app.api.get(`${base()}/classification_jobs/${res.body.id}/failures`, { token });
    // The failures lie in every chunk of the plan.
    const order = (
      await (
        await app.db()
      )
        .selectFrom('records')
        .select('id')
        .where('datasource_id', '=', bigDs)
        .orderBy('id')
        .limit(records)
        .execute()
    ).map((r) => r.id);
    const chunksFailed = new Set(
      failures.body.data.map((f: { record_id: string }) => Math.floor(order.indexOf(f.record_id) / CHUNK)),
    );
    expect(chunksFailed.size).toBe(Math.ceil(records / CHUNK));

    failing = undefined;
    const before = fake.requests.length;
    const retried = await app.api.post(`${base()}/classification_jobs/${res.body.id}/retry`, { token });
    expect(retried.status).toBe(202);
    const done = await waitForJob(res.body.id);
    expect(done).toMatchObject({
      status: 'completed',
      progress: { total: records, succeeded: records, failed: 0, pending: 0 },
    });
    expect(fake.requests.length - before).toBe(failed);
    expect(await countsOf(res.body.id)).toEqual({
      items: records,
      results: records,
      distinct_results: records,
    });
  }, 60_000);
});

describe('a dead-lettered plan_job', () => {
  it('fails its job, and a retry resumes it to one result per item', async () => {
    fake.latencyMs = 500;
    let id: string;
    try {
      const res = await app.api.post(`${base()}/classification_jobs`, {
        token,
        json: { name: 'Dead', scheme_ids: schemeIds, datasource_ids: [smallDs] },
      });
      id = res.body.id;
      // A chunk message (with its cursor) that used up its deliveries.
      await platform().queue.send(`${QUEUE}-dlq`, [{ kind: 'plan_job', job_id: id, after: smallRecords[2] }]);
      const failed = await waitForJob(id);
      expect(failed).toMatchObject({ status: 'failed', error_message: 'Planning failed after every retry' });
    } finally {
      fake.latencyMs = 0;
    }
    const retried = await app.api.post(`${base()}/classification_jobs/${id}/retry`, { token });
    expect(retried.status).toBe(202);
    const done = await waitForJob(id);
    expect(done).toMatchObject({
      status: 'completed',
      planned: true,
      progress: { total: 12, succeeded: 12 },
    });
    expect(await countsOf(id)).toEqual({ items: 12, results: 12, distinct_results: 12 });
  });
});

describe('the job target', () => {
  it('can be limited to records newer than a given one (record_id_after)', async () => {
    const res = await app.api.post(`${base()}/classification_jobs`, {
      token,
      json: {
        name: 'Newer',
        scheme_ids: schemeIds,
        datasource_ids: [smallDs],
        options: { record_id_after: smallRecords[2] },
      },
    });
    expect(res.status).toBe(201);
    expect(res.body.options).toEqual({ record_id_after: smallRecords[2] });
    const done = await waitForJob(res.body.id);
    expect(done).toMatchObject({ status: 'completed', progress: { total: 6 } });
    const db = await app.db();
    const covered = await db
      .selectFrom('classification_results')
      .select('record_id')
      .distinct()
      .where('job_id', '=', res.body.id)
      .orderBy('record_id')
      .execute();
    expect(covered.map((r) => r.record_id)).toEqual(smallRecords.slice(3));
  });

  it('and to records up to a given one (record_id_until)', async () => {
    const res = await app.api.post(`${base()}/classification_jobs`, {
      token,
      json: {
        name: 'Older',
        scheme_ids: [schemeIds[0]],
        datasource_ids: [smallDs],
        options: { record_id_after: smallRecords[0], record_id_until: smallRecords[3] },
      },
    });
    expect(res.status).toBe(201);
    const done = await waitForJob(res.body.id);
    expect(done).toMatchObject({ status: 'completed', progress: { total: 3 } });
    const db = await app.db();
    const covered = await db
      .selectFrom('classification_items')
      .select('record_id')
      .where('job_id', '=', res.body.id)
      .orderBy('record_id')
      .execute();
    expect(covered.map((r) => r.record_id)).toEqual(smallRecords.slice(1, 4));
  });
});

describe('insertJob with the caller’s id', () => {
  it('makes one job however often it is called, and plans it once', async () => {
    const db = await app.db();
    const id = newId();
    const input = {
      name: 'Recurring run',
      scheme_ids: schemeIds,
      datasource_ids: [smallDs],
      provider: 'openai',
      model: 'fake-model',
      options: {},
    };
    const settings = { classifyQueue: QUEUE };
    const first = await insertJob(db, platform().queue, ws, input, settings, { id });
    const again = await insertJob(db, platform().queue, ws, input, settings, { id });
    expect(again.id).toBe(first.id);
    expect(first.id).toBe(id);
    const done = await waitForJob(id);
    expect(done).toMatchObject({ status: 'completed', progress: { total: 12, succeeded: 12 } });
    // Once planning started, a redelivered firing sends nothing more.
    const plans = (await messagesOf(id)).plans.length;
    await insertJob(db, platform().queue, ws, input, settings, { id });
    expect((await messagesOf(id)).plans).toHaveLength(plans);
    const jobs = await db
      .selectFrom('classification_jobs')
      .select(sql<number>`count(*)::int`.as('n'))
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(jobs.n).toBe(1);
    expect(await countsOf(id)).toEqual({ items: 12, results: 12, distinct_results: 12 });
  });
});
