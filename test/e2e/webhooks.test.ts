import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { config } from '#lib/config.ts';
import { LifecycleEvent } from '#lib/events/types.ts';
import { newId } from '#lib/ids.ts';
import { platform } from '#lib/platform.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

// Lifecycle events reach webhooks over real HTTP, signed; a failing receiver gets retries, then
// its hook is disabled with the reason; the delivery log shows every attempt.

type Received = { path: string; signature: string; body: string; at: number };

let app: TestApp;
let fake: FakeLlm;
let receiver: Server;
let receiverUrl: string;
let token: string;
let ws: string;
const received: Received[] = [];

beforeAll(async () => {
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = 'sk-test';
  process.env.OPENAI_MODELS = 'fake-model';
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        path: req.url ?? '',
        signature: String(req.headers['docsift-signature'] ?? ''),
        body: Buffer.concat(chunks).toString(),
        at: Date.now(),
      });
      res.statusCode = req.url?.startsWith('/fail') ? 500 : 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  app = await startTestApp({
    SCRAPER_ALLOW_PRIVATE_HOSTS: 'true',
    WEBHOOK_MAX_ATTEMPTS: '3',
    WEBHOOK_RETRY_BASE_SECONDS: '1',
    WEBHOOK_DISABLE_AFTER_FAILURES: '3',
  });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Hooks' } })).body.id;
});
afterAll(async () => {
  await app.stop();
  await fake.close();
  await new Promise((resolve) => receiver.close(resolve));
});

const base = () => `/api/v1/workspaces/${ws}`;

/** Verifies a delivery the way a receiver should: HMAC over `${t}.${body}`, t within 5 minutes. */
function verify(secret: string, header: string, body: string): boolean {
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=') as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > 300) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  const given = Buffer.from(parts.v1 ?? '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function newHook(path: string, eventTypes: string[]) {
  const res = await app.api.post(`${base()}/webhooks`, {
    token,
    json: { url: `${receiverUrl}${path}`, event_types: eventTypes },
  });
  expect(res.status, res.text).toBe(201);
  expect(res.body.secret).toMatch(/^whsec_/);
  return res.body as { id: string; secret: string };
}

/** The events the receiver got at `path`, verified with `secret` and parsed. */
function eventsAt(path: string, secret: string) {
  return received
    .filter((r) => r.path === path)
    .map((r) => {
      expect(verify(secret, r.signature, r.body), `signature of ${r.body}`).toBe(true);
      return LifecycleEvent.parse(JSON.parse(r.body));
    });
}

async function recordEventsWithId(db: Awaited<ReturnType<TestApp['db']>>, id: string) {
  await db
    .insertInto('event_outbox')
    .values({
      id,
      workspace_id: ws,
      type: 'import.finished',
      data: JSON.stringify({ import_id: newId(), status: 'complete', reason: null, counts: { records: 2 } }),
      sent_at: null,
    })
    .execute();
}

async function newTexts(name: string): Promise<string> {
  const ds = await app.api.post(`${base()}/datasources`, {
    token,
    json: { name, type: 'text_block', options: { text: `${name} record` } },
  });
  expect(ds.status, ds.text).toBe(201);
  const id = ds.body.data[0].id;
  await waitForDatasource(app.api, token, ws, id);
  return id;
}

async function newScheme(): Promise<string> {
  const res = await app.api.post(`${base()}/classification_schemes`, {
    token,
    json: { name: 'Calm', fields: [{ name: 'calm', description: 'Is it calm?', type: 'bool' }] },
  });
  expect(res.status).toBe(201);
  return res.body.id;
}

describe('webhooks', () => {
  it('delivers signed events for a datasource completing, a task run finishing with its job, a cancelled job', async () => {
    const hook = await newHook('/ok', [
      'datasource.completed',
      'job.completed',
      'job.cancelled',
      'task_run.finished',
    ]);
    const listed = await app.api.get(`${base()}/webhooks`, { token });
    expect(listed.body.data).toHaveLength(1);
    expect(listed.body.data[0].secret).toBeUndefined();

    const started = Date.now();
    const dsId = await newTexts('hooked');
    const dsEvent = await waitFor('datasource.completed', () =>
      eventsAt('/ok', hook.secret).find((e) => e.type === 'datasource.completed'),
    );
    const receivedAt = received.find((r) => r.path === '/ok')?.at ?? 0;
    const latencyMs = receivedAt - started;
    // From the commit that recorded the event (its occurred_at) to the receiver's hands.
    const deliveryMs = receivedAt - Date.parse(dsEvent.occurred_at);
    expect(dsEvent).toMatchObject({
      workspace_id: ws,
      data: { datasource_id: dsId, status: 'complete', counts: { records: 1 } },
    });

    const schemeId = await newScheme();
    const task = await app.api.post(`${base()}/recurring_tasks`, {
      token,
      json: {
        name: 'Classify',
        type: 'classify',
        schedule: 'rate(1 hour)',
        configuration: {
          datasource_ids: [dsId],
          scheme_ids: [schemeId],
          provider: 'openai',
          model: 'fake-model',
        },
      },
    });
    expect(task.status, task.text).toBe(201);
    expect((await app.api.post(`${base()}/recurring_tasks/${task.body.id}/run`, { token })).status).toBe(202);
    const runEvent = await waitFor('task_run.finished', () =>
      eventsAt('/ok', hook.secret).find((e) => e.type === 'task_run.finished'),
    );
    expect(runEvent.data).toMatchObject({ task_id: task.body.id, status: 'succeeded' });
    // Deliveries are independent messages: the job's may arrive after its run's.
    const jobEvent = await waitFor('job.completed', () =>
      eventsAt('/ok', hook.secret).find((e) => e.type === 'job.completed'),
    );
    expect(jobEvent.data).toMatchObject({
      job_id: (runEvent.data as { job_id: string }).job_id,
      status: 'completed',
      counts: { succeeded: 1, failed: 0 },
    });

    fake.latencyMs = 5_000;
    const job = await app.api.post(`${base()}/classification_jobs`, {
      token,
      json: {
        name: 'Slow',
        scheme_ids: [schemeId],
        datasource_ids: [dsId],
        provider: 'openai',
        model: 'fake-model',
      },
    });
    expect(job.status, job.text).toBe(201);
    expect(
      (await app.api.post(`${base()}/classification_jobs/${job.body.id}/cancel`, { token })).status,
    ).toBe(200);
    const cancelled = await waitFor('job.cancelled', () =>
      eventsAt('/ok', hook.secret).find((e) => e.type === 'job.cancelled'),
    );
    fake.latencyMs = 0;
    expect(cancelled.data).toMatchObject({ job_id: job.body.id, status: 'cancelled' });
    // Each change once, even though workers and dispatches ran many times meanwhile.
    const types = eventsAt('/ok', hook.secret).map((e) => e.type);
    expect(types.filter((t) => t === 'job.cancelled')).toHaveLength(1);
    expect(new Set(eventsAt('/ok', hook.secret).map((e) => e.id)).size).toBe(types.length);

    // The attempt is logged once the receiver has answered: wait for the log to catch up.
    const log = await waitFor('the delivery log', async () => {
      const res = await app.api.get(`${base()}/webhooks/${hook.id}/deliveries`, { token });
      expect(res.status).toBe(200);
      return res.body.data.length >= types.length ? res.body : undefined;
    });
    expect(log.data.map((d: { status_code: number }) => d.status_code)).toEqual(types.map(() => 204));
    console.info(
      `webhook delivery latency: ${deliveryMs} ms from the event's commit to the receiver (${latencyMs} ms from the datasource's creation)`,
    );
  });

  it('retries a failing receiver with backoff, then disables the hook with the reason', async () => {
    const hook = await newHook('/fail', ['datasource.completed']);
    await newTexts('failing');
    const disabled = await waitFor('the hook to be disabled', async () => {
      const res = await app.api.get(`${base()}/webhooks/${hook.id}`, { token });
      return res.body.enabled === false ? res.body : undefined;
    });
    expect(disabled.disabled_reason).toBe('Disabled after 3 failed deliveries in a row; last: HTTP 500');
    const attempts = received.filter((r) => r.path === '/fail');
    expect(attempts).toHaveLength(3);
    // Backoff: 1 s then 2 s between the tries (a little less for timer rounding).
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(900);
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThanOrEqual(1900);
    const log = await app.api.get(`${base()}/webhooks/${hook.id}/deliveries`, { token });
    expect(
      log.body.data.map((d: { attempt: number; status_code: number; error: string }) => [
        d.attempt,
        d.status_code,
        d.error,
      ]),
    ).toEqual([
      [1, 500, 'HTTP 500'],
      [2, 500, 'HTTP 500'],
      [3, 500, 'HTTP 500'],
    ]);
    // Enabling it again clears the failures.
    const enabled = await app.api.patch(`${base()}/webhooks/${hook.id}`, { token, json: { enabled: true } });
    expect(enabled.body).toMatchObject({ enabled: true, disabled_reason: null, consecutive_failures: 0 });
  });

  it('delivers a datasource failing and an import finishing, with their reasons and counts', async () => {
    const hook = await newHook('/more', ['datasource.failed', 'import.finished']);
    // Port 9 on loopback: nothing listens, so no URL is scraped and the datasource fails.
    const ds = await app.api.post(`${base()}/datasources`, {
      token,
      json: { name: 'Dead', type: 'url_list', options: { urls: ['http://127.0.0.1:9/gone'] } },
    });
    expect(ds.status, ds.text).toBe(201);
    const failed = await waitFor('datasource.failed', () =>
      eventsAt('/more', hook.secret).find((e) => e.type === 'datasource.failed'),
    );
    expect(failed.data).toMatchObject({ datasource_id: ds.body.data[0].id, status: 'failed' });
    expect((failed.data as { reason: string }).reason).toContain('No URL could be scraped');

    const imported = await app.api.post(`${base()}/imports`, {
      token,
      json: {
        document: {
          meta: { export_type: 'scheme' },
          scheme: { name: 'Imported', fields: [{ name: 'n', description: 'A number', type: 'int' }] },
        },
      },
    });
    expect(imported.status, imported.text).toBe(201);
    const finished = await waitFor('import.finished', () =>
      eventsAt('/more', hook.secret).find((e) => e.type === 'import.finished'),
    );
    expect(finished.data).toMatchObject({ import_id: imported.body.id, status: 'complete', reason: null });
  });

  it('publishes an event whose dispatch nudge was lost at the next maintenance sweep', async () => {
    const hook = await newHook('/swept', ['import.finished']);
    // Recorded with its change, as a service does, but nothing told the dispatcher.
    const db = await app.db();
    const id = newId();
    await recordEventsWithId(db, id);
    await sleep(300);
    expect(received.filter((r) => r.path === '/swept')).toHaveLength(0);
    await platform().queue.send(config().taskQueue, [{ kind: 'maintenance' }]);
    const event = await waitFor('the swept event', () => eventsAt('/swept', hook.secret)[0]);
    expect(event).toMatchObject({ id, type: 'import.finished', data: { status: 'complete' } });
    const row = await db
      .selectFrom('event_outbox')
      .select('sent_at')
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(row.sent_at).not.toBeNull();
  });

  it('refuses a target the scraper would refuse (metadata address), with a 422', async () => {
    const res = await app.api.post(`${base()}/webhooks`, {
      token,
      json: { url: 'http://169.254.169.254/latest', event_types: ['job.failed'] },
    });
    expect(res.status).toBe(422);
    expect(res.text).toContain('metadata');
  });
});
