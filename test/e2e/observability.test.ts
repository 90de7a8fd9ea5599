import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { config } from '#lib/config.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { article, startSite, waitForDatasource } from '#test/support/ingest.ts';

// The local runtime's metrics endpoint, and one correlation id from a request through every
// message it causes (the ingest worker's fan-out included).
let app: TestApp;
let site: Awaited<ReturnType<typeof startSite>>;
let admin: string;
let user: string;
let ws: string;
const PAGES = 25; // more than one scrape slice (20 URLs each)

beforeAll(async () => {
  site = await startSite(
    Object.fromEntries(
      Array.from({ length: PAGES }, (_, i) => [`/p${i}`, article(`Page ${i}`, `Text ${i}.`)]),
    ),
  );
  app = await startTestApp({ SCRAPER_ALLOW_PRIVATE_HOSTS: 'true' });
  admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  user = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token: user, json: { name: 'Observed' } })).body.id;
});
afterAll(async () => {
  await app?.stop();
  await site?.close();
});

describe('correlation ids', () => {
  it('carry the request id through every message the request causes, fan-out included', async () => {
    const created = await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token: user,
      json: {
        name: 'Pages',
        type: 'url_list',
        options: { urls: Array.from({ length: PAGES }, (_, i) => `${site.url}/p${i}`) },
      },
    });
    expect(created.status).toBe(201);
    const requestId = created.headers.get('x-request-id')!;
    const id = created.body.data[0].id as string;
    expect((await waitForDatasource(app.api, user, ws, id)).status).toBe('complete');
    const jobs = await sql<{ kind: string; correlation_id: string | null }>`
      SELECT data->>'body' AS body, (data->>'body')::jsonb->>'kind' AS kind, data->>'correlation_id' AS correlation_id
      FROM pgboss.job WHERE name = ${config().ingestQueue} AND data->>'body' LIKE ${`%${id}%`}`.execute(
      await app.db(),
    );
    expect(jobs.rows.map((j) => j.kind).sort()).toEqual(['process_datasource', 'scrape_urls', 'scrape_urls']);
    expect(new Set(jobs.rows.map((j) => j.correlation_id))).toEqual(new Set([requestId]));
  });
});

describe('GET /api/v1/metrics (local runtime)', () => {
  it('serves the process’s metrics as Prometheus text to superusers', async () => {
    await app.api.get('/api/v1/users/me', { token: user });
    // Datasource counts come from its published event, which the dispatcher sends soon after.
    let res = await app.api.get('/api/v1/metrics', { token: admin });
    for (let i = 0; i < 100 && !res.text.includes('docsift_events_published_total'); i++) {
      await new Promise((r) => setTimeout(r, 100));
      res = await app.api.get('/api/v1/metrics', { token: admin });
    }
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.text).toMatch(/^docsift_api_requests_total\{route="GET \/api\/v1\/users\/me"\} [1-9]/m);
    expect(res.text).toMatch(/^docsift_datasources_completed_total\{type="url_list"\} 1$/m);
    expect(res.text).toMatch(/^docsift_records_ingested_total\{type="url_list"\} 25$/m);
    expect(res.text).toMatch(
      new RegExp(`^docsift_queue_age_seconds_count\\{queue="${config().ingestQueue}"\\} [3-9]`, 'm'),
    );
    expect(res.text).toMatch(/^docsift_ingest_duration_seconds_count\{kind="scrape_urls"\} 2$/m);
    expect(res.text).toMatch(/^docsift_events_published_total\{type="datasource.completed"\} 1$/m);
  });

  it('refuses other users (403) and anonymous callers (401), as problems', async () => {
    const forbidden = await app.api.get('/api/v1/metrics', { token: user });
    expect(forbidden.status).toBe(403);
    expect(forbidden.headers.get('content-type')).toBe('application/problem+json');
    expect((await app.api.get('/api/v1/metrics')).status).toBe(401);
  });
});
