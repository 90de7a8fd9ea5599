import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PLAN_DONE } from '#lib/classify/messages.ts';
import { config } from '#lib/config.ts';
import { newId } from '#lib/ids.ts';
import { platform } from '#lib/platform.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { allRecords, article, startSite, waitForDatasource } from '#test/support/ingest.ts';

// The maintenance sweep recovers work whose message was lost: a process that died between the
// commit of its rows and the send that should follow is played by writing the rows directly,
// with no message, as that process would have left them.
let app: TestApp;
let site: Awaited<ReturnType<typeof startSite>>;
let fake: FakeLlm;
let token: string;
let ws: string;
const STUCK_AFTER_SECONDS = 1;

beforeAll(async () => {
  site = await startSite({ '/a': article('Page A', 'A page.') });
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = 'sk-sweep';
  process.env.OPENAI_MODELS = 'fake-model';
  app = await startTestApp({
    SCRAPER_ALLOW_PRIVATE_HOSTS: 'true',
    MAINTENANCE_STUCK_AFTER_SECONDS: String(STUCK_AFTER_SECONDS),
    UPLOAD_URL_EXPIRE_SECONDS: '60',
  });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Sweeps' } })).body.id;
});
afterAll(async () => {
  await app.stop();
  await site.close();
  await fake.close();
});

const longAgo = () => new Date(Date.now() - 2 * 3600_000);
const sweep = () => platform().queue.send(config().taskQueue, [{ kind: 'maintenance' }]);

async function datasourceRow(fields: {
  type: 'text_block' | 'csv';
  status: string;
  options?: object;
  created_at?: Date;
}) {
  const db = await app.db();
  const id = newId();
  await db
    .insertInto('datasources')
    .values({
      id,
      workspace_id: ws,
      name: 'Lost',
      type: fields.type,
      options: JSON.stringify(fields.options ?? {}),
      status: fields.status as 'pending',
      metadata: '{}',
      run_id: newId(),
      object_key: null,
      error_message: null,
      ...(fields.created_at && { created_at: fields.created_at }),
      updated_at: longAgo(),
    } as never)
    .execute();
  return id;
}

describe('the maintenance sweep', () => {
  it('sends again a datasource whose message was lost, and a second sweep duplicates nothing', async () => {
    const id = await datasourceRow({
      type: 'text_block',
      status: 'pending',
      options: { text: 'Recovered text.' },
    });
    const sentAt = Date.now();
    await sweep();
    const done = await waitForDatasource(app.api, token, ws, id);
    const seconds = (Date.now() - sentAt) / 1000;
    console.info(`maintenance: a lost datasource send completed ${seconds.toFixed(1)} s after the sweep`);
    expect(done).toMatchObject({ status: 'complete', record_count: 1 });

    await new Promise((r) => setTimeout(r, STUCK_AFTER_SECONDS * 1000 + 100));
    await sweep();
    await new Promise((r) => setTimeout(r, 800));
    const records = await allRecords(app.api, token, ws, id);
    expect(records.map((r) => r.text_content)).toEqual(['Recovered text.']);
  });

  it('gives up an upload that never came, an hour after its form expired', async () => {
    const expired = await datasourceRow({ type: 'csv', status: 'awaiting_upload', created_at: longAgo() });
    const fresh = await datasourceRow({ type: 'csv', status: 'awaiting_upload' });
    await sweep();
    const failed = await waitForDatasource(app.api, token, ws, expired);
    expect(failed).toMatchObject({
      status: 'failed',
      error_message: 'The upload never arrived (its upload form expired)',
    });
    const waiting = await app.api.get(`/api/v1/workspaces/${ws}/datasources/${fresh}`, { token });
    expect(waiting.body.status).toBe('awaiting_upload');
  });

  it('resumes a task run left running by a dead dispatcher, as the same run', async () => {
    const target = (
      await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
        token,
        json: { name: 'Target', type: 'url_list', options: { urls: [`${site.url}/missing`] } },
      })
    ).body.data[0].id;
    await waitForDatasource(app.api, token, ws, target);
    const task = (
      await app.api.post(`/api/v1/workspaces/${ws}/recurring_tasks`, {
        token,
        json: {
          name: 'Pages',
          type: 'ingest',
          schedule: '@daily',
          configuration: { target_datasource_id: target, source_urls: [`${site.url}/a`] },
        },
      })
    ).body;
    const db = await app.db();
    const runId = newId();
    await db
      .insertInto('task_runs')
      .values({
        id: runId,
        task_id: task.id,
        workspace_id: ws,
        scheduled_for: new Date('2026-12-01T00:00:00Z'),
        trigger: 'schedule',
        status: 'running',
        message: null,
        job_id: null,
        finished_at: null,
        updated_at: longAgo(),
      } as never)
      .execute();
    await sweep();
    for (let i = 0; i < 100; i++) {
      const runs = (await app.api.get(`/api/v1/workspaces/${ws}/recurring_tasks/${task.id}/runs`, { token }))
        .body;
      if (runs.data[0]?.status !== 'running') {
        expect(runs.count).toBe(1);
        expect(runs.data[0]).toMatchObject({ id: runId, status: 'succeeded', counts: { new_records: 1 } });
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the stuck run was not resumed');
  });
});

describe('the maintenance sweep and jobs', () => {
  let source: string;
  let scheme: string;
  let recordIds: string[];

  beforeAll(async () => {
    source = (
      await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
        token,
        json: { name: 'Texts', type: 'text_block', options: { text: 'One text.' } },
      })
    ).body.data[0].id;
    await waitForDatasource(app.api, token, ws, source);
    await app.api.post(`/api/v1/workspaces/${ws}/datasources/${source}/records`, {
      token,
      json: { content: 'Another text.', content_type: 'text' },
    });
    recordIds = (await allRecords(app.api, token, ws, source)).map((r) => r.id);
    scheme = (
      await app.api.post(`/api/v1/workspaces/${ws}/classification_schemes`, {
        token,
        json: { name: 'Calm', fields: [{ name: 'calm', description: 'Calm?', type: 'bool' }] },
      })
    ).body.id;
  });

  async function jobRow(fields: Record<string, unknown>) {
    const id = newId();
    const db = await app.db();
    await db
      .insertInto('classification_jobs')
      .values({
        id,
        workspace_id: ws,
        name: 'Lost',
        description: null,
        scheme_ids: [scheme],
        datasource_ids: [source],
        provider: 'openai',
        model: 'fake-model',
        options: '{}',
        error_message: null,
        plan_until: newId(),
        updated_at: longAgo(),
        ...fields,
      } as never)
      .execute();
    return id;
  }

  async function finished(jobId: string) {
    for (let i = 0; i < 200; i++) {
      const job = (await app.api.get(`/api/v1/workspaces/${ws}/classification_jobs/${jobId}`, { token }))
        .body;
      if (job.status === 'completed') return job;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`job ${jobId} did not complete`);
  }

  it('plans a job whose planning message was lost, once', async () => {
    const jobId = await jobRow({ status: 'pending' });
    const sentAt = Date.now();
    await sweep();
    const job = await finished(jobId);
    console.info(
      `maintenance: a lost job send completed ${((Date.now() - sentAt) / 1000).toFixed(1)} s after the sweep`,
    );
    expect(job.progress).toMatchObject({ total: 2, succeeded: 2 });
    await sweep();
    await new Promise((r) => setTimeout(r, 800));
    const results = await app.api.get(`/api/v1/workspaces/${ws}/classification_results?job_id=${jobId}`, {
      token,
    });
    expect(results.body.count).toBe(2);
  });

  it('sends again the pending items of a planned job whose item messages were lost', async () => {
    const jobId = await jobRow({
      status: 'running',
      plan_cursor: PLAN_DONE,
      planned_at: longAgo(),
      planned_records: 2,
    });
    const db = await app.db();
    await db
      .insertInto('classification_items')
      .values(
        recordIds.map(
          (record_id) => ({ job_id: jobId, record_id, scheme_id: scheme, updated_at: longAgo() }) as never,
        ),
      )
      .execute();
    await sweep();
    const job = await finished(jobId);
    expect(job.progress).toMatchObject({ total: 2, succeeded: 2, pending: 0 });
  });
});

describe('the maintenance sweep, for search documents and exports', () => {
  it('builds the search documents of a run whose index step was lost', async () => {
    const db = await app.db();
    const id = newId();
    // A run that completed as `indexing` and died before sending its index step.
    await db
      .insertInto('datasources')
      .values({
        id,
        workspace_id: ws,
        name: 'Unindexed',
        type: 'text_block',
        options: JSON.stringify({ text: 'Kingfishers nest by the river.' }),
        status: 'complete',
        metadata: '{}',
        run_id: newId(),
        search_status: 'indexing',
        record_count: 1,
        updated_at: longAgo(),
      } as never)
      .execute();
    await db
      .insertInto('records')
      .values({
        id: newId(),
        workspace_id: ws,
        datasource_id: id,
        source_key: 'text',
        text_content: 'Kingfishers nest by the river.',
        source_metadata: '{}',
        content_hash: 'x',
      })
      .execute();
    const find = () => app.api.get(`/api/v1/workspaces/${ws}/datarecords?q=kingfishers`, { token });
    expect((await find()).body.count).toBe(0);
    await sweep();
    const done = await waitForDatasource(app.api, token, ws, id, 20_000, { searchable: true });
    expect(done.search_status).toBe('ready');
    expect((await find()).body.count).toBe(1);
  });

  it('writes an export whose message was lost', async () => {
    const db = await app.db();
    const id = newId();
    await db
      .insertInto('bundle_exports')
      .values({
        id,
        workspace_id: ws,
        type: 'workspace',
        resource_id: ws,
        include_files: false,
        status: 'pending',
        updated_at: longAgo(),
      } as never)
      .execute();
    await sweep();
    let done: any;
    for (let i = 0; i < 100 && done?.status !== 'complete'; i++) {
      await new Promise((r) => setTimeout(r, 200));
      done = (await app.api.get(`/api/v1/workspaces/${ws}/exports/${id}`, { token })).body;
    }
    expect(done).toMatchObject({ status: 'complete', format: 'bundle' });
    expect(done.download.url).toBeTypeOf('string');
  });
});

describe('retention', () => {
  it('prunes published events and delivery attempts past their retention, never an unpublished event', async () => {
    const db = await app.db();
    const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000);
    const event = (sentAt: Date | null, occurredAt = daysAgo(40)) => ({
      id: newId(),
      workspace_id: ws,
      type: 'job.completed',
      occurred_at: occurredAt,
      data: JSON.stringify({}),
      sent_at: sentAt,
    });
    // Retention: events 7 days after publication, delivery attempts 30 days (the defaults).
    const old = event(daysAgo(8));
    const recent = event(daysAgo(6));
    // Unpublished when the sweep prunes (it is published after, by the dispatcher the sweep nudges).
    const unsent = event(null);
    await db.insertInto('event_outbox').values([old, recent, unsent]).execute();
    const hook = newId();
    await db
      .insertInto('webhooks')
      .values({
        id: hook,
        workspace_id: ws,
        url: 'https://hooks.example.com/',
        event_types: ['job.completed'],
        secret: 'whsec_x',
      } as never)
      .execute();
    // Disabled, so the dispatcher the sweep nudges delivers nothing of its own.
    await db.updateTable('webhooks').set({ enabled: false }).where('id', '=', hook).execute();
    const attempt = (deliveredAt: Date, n: number) => ({
      id: newId(),
      webhook_id: hook,
      event_id: old.id,
      event_type: 'job.completed',
      attempt: n,
      status_code: 200,
      error: null,
      duration_ms: 5,
      delivered_at: deliveredAt,
    });
    await db
      .insertInto('webhook_deliveries')
      .values([attempt(daysAgo(31), 1), attempt(daysAgo(29), 2)])
      .execute();
    const left = async () => ({
      events: (
        await db
          .selectFrom('event_outbox')
          .select('id')
          .where('id', 'in', [old.id, recent.id, unsent.id])
          .execute()
      )
        .map((e) => e.id)
        .sort(),
      attempts: (
        await db.selectFrom('webhook_deliveries').select('attempt').where('webhook_id', '=', hook).execute()
      ).map((d) => d.attempt),
    });
    await sweep();
    // Events and delivery attempts are pruned by separate statements: wait for both.
    const expected = { events: [recent.id, unsent.id].sort(), attempts: [2] };
    const deadline = Date.now() + 15_000;
    while (JSON.stringify(await left()) !== JSON.stringify(expected) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    expect(await left()).toEqual(expected);
  });
});
