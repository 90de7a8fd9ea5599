import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logger } from '#lib/logger.ts';
import { resolveShareForImport } from '#lib/services/share-access.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

/**
 * Share links over real HTTP: the owner's routes, the holder's views (each narrowed to what the
 * link covers), the rules (404 / 410 / 401 / 403), atomic use counting and the access log.
 */

let app: TestApp;
let fake: FakeLlm;
let alice: { id: string; token: string };
let bob: { id: string; token: string };
const FRONTEND = 'https://app.example.com';
const API = '/api/v1';

/** Alice's resources: workspace A (two datasources, two schemes, two jobs) and workspace B. */
const a = {} as Record<
  'ws' | 'ds1' | 'ds2' | 'rec1' | 'rec2' | 'scheme1' | 'scheme2' | 'job1' | 'job2' | 'res1' | 'res2',
  string
>;
const b = {} as Record<'ws' | 'ds' | 'rec' | 'scheme', string>;

const scheme = (name: string) => ({
  name,
  description: 'Policy areas',
  fields: [
    {
      name: 'topics',
      description: 'Policy areas the text is about',
      type: 'List[str]',
      is_set_of_labels: true,
      labels: ['Economy', 'Health'],
      max_selections: 2,
    },
  ],
});

async function textSource(token: string, ws: string, name: string, texts: string[]) {
  const res = await app.api.post(`${API}/workspaces/${ws}/datasources`, {
    token,
    json: { name, type: 'text_block', options: { text: texts[0] } },
  });
  expect(res.status).toBe(201);
  const id = res.body.data[0].id as string;
  await waitForDatasource(app.api, token, ws, id);
  for (const text of texts.slice(1)) {
    const appended = await app.api.post(`${API}/workspaces/${ws}/datasources/${id}/records`, {
      token,
      json: { content: text, content_type: 'text' },
    });
    expect(appended.status).toBe(201);
  }
  const records = await app.api.get(`${API}/workspaces/${ws}/datarecords?datasource_id=${id}`, { token });
  return { id, records: records.body.data.map((r: { id: string }) => r.id) as string[] };
}

async function finishedJob(token: string, ws: string, schemeId: string, datasourceId: string) {
  const res = await app.api.post(`${API}/workspaces/${ws}/classification_jobs`, {
    token,
    json: {
      name: 'Job',
      scheme_ids: [schemeId],
      datasource_ids: [datasourceId],
      provider: 'openai',
      model: 'fake-model',
    },
  });
  expect(res.status).toBe(201);
  for (let i = 0; i < 300; i++) {
    const job = await app.api.get(`${API}/workspaces/${ws}/classification_jobs/${res.body.id}`, { token });
    if (['completed', 'completed_with_errors', 'failed'].includes(job.body.status)) {
      expect(job.body.status).toBe('completed');
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const results = await app.api.get(`${API}/workspaces/${ws}/classification_results?job_id=${res.body.id}`, {
    token,
  });
  return { id: res.body.id as string, result: results.body.data[0].id as string };
}

/** Creates a link as Alice; `fields` override the defaults. */
async function share(fields: Record<string, unknown>) {
  const res = await app.api.post(`${API}/shareables`, { token: alice.token, json: fields });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; token: string; share_url: string; use_count: number };
}

const anonymousLink = (resource_type: string, resource_id: string, extra: Record<string, unknown> = {}) =>
  share({ resource_type, resource_id, requires_login: false, ...extra });

beforeAll(async () => {
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = 'sk-shares';
  process.env.OPENAI_MODELS = 'fake-model';
  app = await startTestApp({ FRONTEND_URL: FRONTEND });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  alice = await app.api.newUser(admin);
  bob = await app.api.newUser(admin);
  a.ws = (await app.api.post(`${API}/workspaces`, { token: alice.token, json: { name: 'A' } })).body.id;
  b.ws = (await app.api.post(`${API}/workspaces`, { token: alice.token, json: { name: 'B' } })).body.id;
  const ds1 = await textSource(alice.token, a.ws, 'Budget', [
    'The budget raises fuel taxes.',
    'Hospitals get more money.',
  ]);
  const ds2 = await textSource(alice.token, a.ws, 'Other', ['Unemployment fell in spring.']);
  const dsb = await textSource(alice.token, b.ws, 'Elsewhere', ['A record in workspace B.']);
  [a.ds1, a.rec1, a.ds2, a.rec2, b.ds, b.rec] = [
    ds1.id,
    ds1.records[0]!,
    ds2.id,
    ds2.records[0]!,
    dsb.id,
    dsb.records[0]!,
  ];
  const newScheme = async (ws: string, name: string) =>
    (
      await app.api.post(`${API}/workspaces/${ws}/classification_schemes`, {
        token: alice.token,
        json: scheme(name),
      })
    ).body.id as string;
  a.scheme1 = await newScheme(a.ws, 'Topics');
  a.scheme2 = await newScheme(a.ws, 'Topics again');
  b.scheme = await newScheme(b.ws, 'Topics in B');
  const job1 = await finishedJob(alice.token, a.ws, a.scheme1, a.ds1);
  const job2 = await finishedJob(alice.token, a.ws, a.scheme2, a.ds2);
  [a.job1, a.res1, a.job2, a.res2] = [job1.id, job1.result, job2.id, job2.result];
}, 120_000);

afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

describe('creating share links', () => {
  it('answers 201 with a 256-bit token and a share_url from FRONTEND_URL, read_only and login by default', async () => {
    const res = await app.api.post(`${API}/shareables`, {
      token: alice.token,
      json: { resource_type: 'datasource', resource_id: a.ds1, name: 'Budget texts' },
    });
    expect(res.status).toBe(201);
    expect(res.body.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.body.share_url).toBe(`${FRONTEND}/share/${res.body.token}`);
    expect(res.body).toMatchObject({
      resource_type: 'datasource',
      resource_id: a.ds1,
      workspace_id: a.ws,
      permission_level: 'read_only',
      requires_login: true,
      use_count: 0,
      status: 'active',
    });
    // The owner reads the link (and its URL) again; the database holds only a hash and a sealed copy.
    const again = await app.api.get(`${API}/shareables/${res.body.id}`, { token: alice.token });
    expect(again.body.share_url).toBe(res.body.share_url);
    const row = await (await app.db())
      .selectFrom('share_links')
      .selectAll()
      .where('id', '=', res.body.id)
      .executeTakeFirstOrThrow();
    expect(JSON.stringify(row)).not.toContain(res.body.token);
  });

  it('is a 404 for a resource of someone else’s workspace, or none at all', async () => {
    for (const [resource_type, resource_id] of [
      ['datasource', a.ds1],
      ['scheme', a.scheme1],
      ['classification_job', a.job1],
      ['workspace', a.ws],
    ]) {
      const res = await app.api.post(`${API}/shareables`, {
        token: bob.token,
        json: { resource_type, resource_id },
      });
      expect(res.status, resource_type).toBe(404);
    }
    const missing = crypto.randomUUID();
    for (const resource_type of ['datasource', 'scheme', 'classification_job', 'dataset', 'workspace']) {
      const res = await app.api.post(`${API}/shareables`, {
        token: alice.token,
        json: { resource_type, resource_id: missing },
      });
      expect(res.status, resource_type).toBe(404);
    }
    // A scheme id given as a datasource is no datasource.
    const mistyped = await app.api.post(`${API}/shareables`, {
      token: alice.token,
      json: { resource_type: 'datasource', resource_id: a.scheme1 },
    });
    expect(mistyped.status).toBe(404);
  });

  it('refuses a past expiry, a zero use limit and an unknown type with 422', async () => {
    for (const extra of [
      { expires_at: new Date(Date.now() - 1000).toISOString() },
      { max_uses: 0 },
      { resource_type: 'data_source' },
    ]) {
      const res = await app.api.post(`${API}/shareables`, {
        token: alice.token,
        json: { resource_type: 'datasource', resource_id: a.ds1, ...extra },
      });
      expect(res.status, JSON.stringify(extra)).toBe(422);
    }
  });
});

describe('the rules of a link', () => {
  it('unknown → 404; requires_login and anonymous → 401; an invalid bearer token → 401; any signed-in user → 200', async () => {
    expect((await app.api.get(`${API}/shared/${'x'.repeat(43)}`)).status).toBe(404);
    const link = await share({ resource_type: 'datasource', resource_id: a.ds1 });
    const anonymous = await app.api.get(`${API}/shared/${link.token}`);
    expect(anonymous.status).toBe(401);
    expect((await app.api.get(`${API}/shared/${link.token}`, { token: 'not-a-jwt' })).status).toBe(401);
    const asBob = await app.api.get(`${API}/shared/${link.token}`, { token: bob.token });
    expect(asBob.status).toBe(200);
    expect(asBob.body).toMatchObject({
      resource_type: 'datasource',
      resource_id: a.ds1,
      permission_level: 'read_only',
      resource: { id: a.ds1, name: 'Budget', record_count: 2 },
    });
    // The refused anonymous access counted no use.
    expect((await app.api.get(`${API}/shareables/${link.id}`, { token: alice.token })).body.use_count).toBe(
      1,
    );
  });

  it('expired → 410', async () => {
    const link = await anonymousLink('datasource', a.ds1, {
      expires_at: new Date(Date.now() + 1500).toISOString(),
    });
    expect((await app.api.get(`${API}/shared/${link.token}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1600));
    const res = await app.api.get(`${API}/shared/${link.token}`);
    expect(res.status).toBe(410);
    expect(res.body.detail).toBe('This link has expired');
    expect((await app.api.get(`${API}/shareables/${link.id}`, { token: alice.token })).body.status).toBe(
      'expired',
    );
  });

  it('max_uses reached → 410, every request under the token being one use', async () => {
    const link = await anonymousLink('datasource', a.ds1, { max_uses: 3 });
    expect((await app.api.get(`${API}/shared/${link.token}`)).status).toBe(200);
    expect((await app.api.get(`${API}/shared/${link.token}/records`)).status).toBe(200);
    expect((await app.api.get(`${API}/shared/${link.token}/records/${a.rec1}`)).status).toBe(200);
    const res = await app.api.get(`${API}/shared/${link.token}`);
    expect(res.status).toBe(410);
    const owner = await app.api.get(`${API}/shareables/${link.id}`, { token: alice.token });
    expect(owner.body).toMatchObject({ use_count: 3, status: 'exhausted' });
  });

  it('lets exactly 5 of 20 concurrent accesses through a link with max_uses 5', async () => {
    const link = await anonymousLink('workspace', a.ws, { max_uses: 5 });
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () => app.api.get(`${API}/shared/${link.token}`).then((r) => r.status)),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(5);
    expect(statuses.filter((s) => s === 410)).toHaveLength(15);
    const owner = await app.api.get(`${API}/shareables/${link.id}`, { token: alice.token });
    expect(owner.body.use_count).toBe(5);
    const log = await app.api.get(`${API}/shareables/${link.id}/accesses?limit=100`, { token: alice.token });
    expect(log.body.count).toBe(20);
    const outcomes = log.body.data.map((e: { outcome: string }) => e.outcome);
    expect(outcomes.filter((o: string) => o === 'allowed')).toHaveLength(5);
    expect(outcomes.filter((o: string) => o === 'exhausted')).toHaveLength(15);
  });

  it('revoked → 404 for its holders; the owner still reads it and its log; revoking twice → 404', async () => {
    const link = await anonymousLink('scheme', a.scheme1);
    expect((await app.api.get(`${API}/shared/${link.token}`)).status).toBe(200);
    expect((await app.api.delete(`${API}/shareables/${link.id}`, { token: bob.token })).status).toBe(404);
    expect((await app.api.delete(`${API}/shareables/${link.id}`, { token: alice.token })).status).toBe(204);
    expect((await app.api.get(`${API}/shared/${link.token}`)).status).toBe(404);
    expect((await app.api.get(`${API}/shared/${link.token}/schemes/${a.scheme1}`)).status).toBe(404);
    expect((await app.api.delete(`${API}/shareables/${link.id}`, { token: alice.token })).status).toBe(404);
    expect(
      (await app.api.patch(`${API}/shareables/${link.id}`, { token: alice.token, json: { name: 'x' } }))
        .status,
    ).toBe(404);
    const owner = await app.api.get(`${API}/shareables/${link.id}`, { token: alice.token });
    expect(owner.body.status).toBe('revoked');
    const listed = await app.api.get(`${API}/shareables?resource_id=${a.scheme1}`, { token: alice.token });
    expect(listed.body.data.map((l: { id: string }) => l.id)).not.toContain(link.id);
    const withRevoked = await app.api.get(`${API}/shareables?resource_id=${a.scheme1}&include_revoked=true`, {
      token: alice.token,
    });
    expect(withRevoked.body.data.map((l: { id: string }) => l.id)).toContain(link.id);
    const log = await app.api.get(`${API}/shareables/${link.id}/accesses`, { token: alice.token });
    expect(log.body.data.map((e: { outcome: string }) => e.outcome)).toEqual([
      'revoked',
      'revoked',
      'allowed',
    ]);
  });

  it('logs every access of a found link, with the user or anonymous and the route, never the token; owner only', async () => {
    const link = await share({ resource_type: 'datasource', resource_id: a.ds1, requires_login: true });
    await app.api.get(`${API}/shared/${link.token}`);
    await app.api.get(`${API}/shared/${link.token}/records?q=budget`, { token: bob.token });
    await app.api.get(`${API}/shared/${link.token}/records/${a.rec2}`, { token: bob.token });
    const log = await app.api.get(`${API}/shareables/${link.id}/accesses`, { token: alice.token });
    expect(log.status).toBe(200);
    expect(log.body.data).toEqual([
      expect.objectContaining({
        user_id: bob.id,
        route: `GET ${API}/shared/{token}/records/${a.rec2}`,
        outcome: 'allowed',
      }),
      expect.objectContaining({
        user_id: bob.id,
        route: `GET ${API}/shared/{token}/records`,
        outcome: 'allowed',
      }),
      expect.objectContaining({
        user_id: null,
        route: `GET ${API}/shared/{token}`,
        outcome: 'login_required',
      }),
    ]);
    expect(log.text).not.toContain(link.token);
    expect((await app.api.get(`${API}/shareables/${link.id}/accesses`, { token: bob.token })).status).toBe(
      404,
    );
  });

  it('updates a link’s terms (owner only): a lowered max_uses and requires_login take effect at once', async () => {
    const link = await anonymousLink('datasource', a.ds1);
    expect((await app.api.get(`${API}/shared/${link.token}`)).status).toBe(200);
    const bobTries = await app.api.patch(`${API}/shareables/${link.id}`, {
      token: bob.token,
      json: { max_uses: 1 },
    });
    expect(bobTries.status).toBe(404);
    const changed = await app.api.patch(`${API}/shareables/${link.id}`, {
      token: alice.token,
      json: {
        name: 'Renamed',
        description: 'd',
        permission_level: 'import',
        requires_login: true,
        max_uses: 2,
      },
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({
      name: 'Renamed',
      permission_level: 'import',
      requires_login: true,
      max_uses: 2,
    });
    expect((await app.api.get(`${API}/shared/${link.token}`)).status).toBe(401);
    expect((await app.api.get(`${API}/shared/${link.token}`, { token: bob.token })).status).toBe(200);
    expect((await app.api.get(`${API}/shared/${link.token}`, { token: bob.token })).status).toBe(410);
  });

  it('a link whose resource was deleted is a 404', async () => {
    const ds = await textSource(alice.token, a.ws, 'Doomed', ['Soon gone.']);
    const link = await anonymousLink('datasource', ds.id);
    expect((await app.api.get(`${API}/shared/${link.token}`)).status).toBe(200);
    expect(
      (await app.api.delete(`${API}/workspaces/${a.ws}/datasources/${ds.id}`, { token: alice.token })).status,
    ).toBe(204);
    expect((await app.api.get(`${API}/shared/${link.token}`)).status).toBe(404);
  });
});

/** Every view of the holder's API, as paths under a token. */
const views = () => ({
  datasources: '/datasources',
  datasource1: `/datasources/${a.ds1}`,
  datasource2: `/datasources/${a.ds2}`,
  datasourceB: `/datasources/${b.ds}`,
  records: '/records',
  recordsOfDs2: `/records?datasource_id=${a.ds2}`,
  record1: `/records/${a.rec1}`,
  record2: `/records/${a.rec2}`,
  recordB: `/records/${b.rec}`,
  schemes: '/schemes',
  scheme1: `/schemes/${a.scheme1}`,
  scheme2: `/schemes/${a.scheme2}`,
  schemeB: `/schemes/${b.scheme}`,
  jobs: '/jobs',
  job1: `/jobs/${a.job1}`,
  job2: `/jobs/${a.job2}`,
  summary1: `/jobs/${a.job1}/summary`,
  summary2: `/jobs/${a.job2}/summary`,
  export1: `/jobs/${a.job1}/export?format=json`,
  export2: `/jobs/${a.job2}/export?format=json`,
  results: '/results',
  resultsOfJob2: `/results?job_id=${a.job2}`,
  result1: `/results/${a.res1}`,
  result2: `/results/${a.res2}`,
  unknownRecord: `/records/${crypto.randomUUID()}`,
  unknownJob: `/jobs/${crypto.randomUUID()}`,
});
type View = keyof ReturnType<typeof views>;

/** Asks every view under a fresh link; returns the views that answered 200. */
async function reachable(resourceType: string, resourceId: string): Promise<View[]> {
  const link = await anonymousLink(resourceType, resourceId);
  const open: View[] = [];
  for (const [view, path] of Object.entries(views()) as [View, string][]) {
    const res = await app.api.get(`${API}/shared/${link.token}${path}`);
    expect([200, 404], `${view}: ${res.text}`).toContain(res.status);
    if (res.status === 200) open.push(view);
  }
  return open;
}

describe('what each link covers, and nothing else (404 under a valid token)', () => {
  it('a datasource link: its records (paged, searchable) and itself', async () => {
    expect(await reachable('datasource', a.ds1)).toEqual(['datasource1', 'records', 'record1']);
    const link = await anonymousLink('datasource', a.ds1);
    const page = await app.api.get(`${API}/shared/${link.token}/records?limit=1`);
    expect(page.body).toMatchObject({ count: 2, data: [{ datasource_id: a.ds1 }] });
    const next = await app.api.get(
      `${API}/shared/${link.token}/records?limit=1&cursor=${page.body.next_cursor}`,
    );
    expect(next.body.data).toHaveLength(1);
    expect(next.body.data[0].id).not.toBe(page.body.data[0].id);
    const found = await app.api.get(`${API}/shared/${link.token}/records?q=hospitals`);
    expect(found.body.data.map((r: { text_content: string }) => r.text_content)).toEqual([
      'Hospitals get more money.',
    ]);
  });

  it('a job link: the job, its results, summary, export and schemes', async () => {
    expect(await reachable('classification_job', a.job1)).toEqual([
      'scheme1',
      'job1',
      'summary1',
      'export1',
      'results',
      'result1',
    ]);
    const link = await anonymousLink('classification_job', a.job1);
    const results = await app.api.get(`${API}/shared/${link.token}/results?field=topics&label=Economy`);
    expect(results.status).toBe(200);
    for (const r of results.body.data) expect(r.job_id).toBe(a.job1);
    const summary = await app.api.get(`${API}/shared/${link.token}/jobs/${a.job1}/summary`);
    expect(summary.body).toMatchObject({ job_id: a.job1, schemes: [{ scheme_id: a.scheme1, results: 2 }] });
    for (const format of ['csv', 'jsonl', 'json']) {
      const file = await app.api.get(
        `${API}/shared/${link.token}/jobs/${a.job1}/export?format=${format}&include_text=true`,
      );
      expect(file.status, format).toBe(200);
      expect(file.headers.get('content-disposition')).toBe(`attachment; filename="job-${a.job1}.${format}"`);
      expect(file.text).toContain('Hospitals get more money.');
      expect(file.text).not.toContain('Unemployment');
    }
  });

  it('a scheme link: its definition only', async () => {
    expect(await reachable('scheme', a.scheme1)).toEqual(['scheme1']);
    const link = await anonymousLink('scheme', a.scheme1);
    const described = await app.api.get(`${API}/shared/${link.token}`);
    expect(described.body.resource.fields[0]).toMatchObject({
      name: 'topics',
      labels: ['Economy', 'Health'],
    });
  });

  it('a workspace link: everything in that workspace, nothing of another', async () => {
    expect(await reachable('workspace', a.ws)).toEqual([
      'datasources',
      'datasource1',
      'datasource2',
      'records',
      'recordsOfDs2',
      'record1',
      'record2',
      'schemes',
      'scheme1',
      'scheme2',
      'jobs',
      'job1',
      'job2',
      'summary1',
      'summary2',
      'export1',
      'export2',
      'results',
      'resultsOfJob2',
      'result1',
      'result2',
    ]);
    const link = await anonymousLink('workspace', a.ws);
    const described = await app.api.get(`${API}/shared/${link.token}`);
    expect(described.body.resource).toMatchObject({ name: 'A', counts: { schemes: 2, jobs: 2 } });
    const records = await app.api.get(`${API}/shared/${link.token}/records`);
    expect(records.body.data.map((r: { id: string }) => r.id)).not.toContain(b.rec);
  });
});

describe('import through a link (resolveShareForImport, for the bundles import)', () => {
  it('refuses a read_only link with 403 and no use; an import link answers what to copy and counts a use', async () => {
    const db = await app.db();
    const readOnly = await anonymousLink('classification_job', a.job1);
    await expect(resolveShareForImport(db, readOnly.token, bob)).rejects.toMatchObject({
      name: 'ForbiddenError',
      message: 'This link is read-only',
    });
    expect(
      (await app.api.get(`${API}/shareables/${readOnly.id}`, { token: alice.token })).body.use_count,
    ).toBe(0);
    const importable = await share({
      resource_type: 'classification_job',
      resource_id: a.job1,
      permission_level: 'import',
      max_uses: 1,
    });
    await expect(resolveShareForImport(db, importable.token, undefined)).rejects.toMatchObject({
      name: 'UnauthorizedError',
    });
    expect(await resolveShareForImport(db, importable.token, bob)).toEqual({
      resource_type: 'classification_job',
      resource_id: a.job1,
      workspace_id: a.ws,
      link_id: importable.id,
    });
    await expect(resolveShareForImport(db, importable.token, bob)).rejects.toMatchObject({
      name: 'GoneError',
    });
    await expect(resolveShareForImport(db, 'unknown', bob)).rejects.toMatchObject({ name: 'NotFoundError' });
    const log = await app.api.get(`${API}/shareables/${readOnly.id}/accesses`, { token: alice.token });
    expect(log.body.data[0]).toMatchObject({ outcome: 'read_only', user_id: bob.id });
  });
});

describe('the owner’s list and stats', () => {
  it('lists by type and resource, and counts links by status and type, the most used and most shared', async () => {
    const carol = await app.api.newUser(await app.api.login(SUPERUSER.email, SUPERUSER.password));
    const ws = (await app.api.post(`${API}/workspaces`, { token: carol.token, json: { name: 'C' } })).body.id;
    const ds = await textSource(carol.token, ws, 'Carol’s', ['One text.']);
    const make = async (json: Record<string, unknown>) =>
      (
        await app.api.post(`${API}/shareables`, {
          token: carol.token,
          json: { requires_login: false, ...json },
        })
      ).body;
    const busy = await make({ resource_type: 'datasource', resource_id: ds.id, name: 'busy' });
    await make({ resource_type: 'datasource', resource_id: ds.id });
    const wsLink = await make({ resource_type: 'workspace', resource_id: ws, max_uses: 1 });
    const revoked = await make({ resource_type: 'workspace', resource_id: ws });
    await make({
      resource_type: 'workspace',
      resource_id: ws,
      expires_at: new Date(Date.now() + 800).toISOString(),
    });
    for (let i = 0; i < 3; i++) await app.api.get(`${API}/shared/${busy.token}`);
    await app.api.get(`${API}/shared/${wsLink.token}`);
    await app.api.delete(`${API}/shareables/${revoked.id}`, { token: carol.token });
    await new Promise((r) => setTimeout(r, 900));

    const byType = await app.api.get(`${API}/shareables?resource_type=datasource`, { token: carol.token });
    expect(byType.body.count).toBe(2);
    const paged = await app.api.get(`${API}/shareables?limit=2`, { token: carol.token });
    expect(paged.body).toMatchObject({ count: 4 });
    expect(paged.body.next_cursor).not.toBeNull();

    const stats = await app.api.get(`${API}/shareables/stats`, { token: carol.token });
    expect(stats.status).toBe(200);
    expect(stats.body).toMatchObject({
      total_links: 5,
      active_links: 2,
      expired_links: 1,
      exhausted_links: 1,
      revoked_links: 1,
      links_by_resource_type: { datasource: 2, workspace: 2 },
    });
    expect(stats.body.most_used_links[0]).toMatchObject({ id: busy.id, name: 'busy', use_count: 3 });
    expect(stats.body.most_shared_resources[0]).toMatchObject({
      resource_type: 'datasource',
      resource_id: ds.id,
      links: 2,
      uses: 3,
    });
  });
});

describe('tokens stay out of the logs', () => {
  it('the request log shows /shared/{token}, never the token', async () => {
    const link = await anonymousLink('datasource', a.ds1);
    let captured = '';
    const original = process.stdout.write;
    process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      captured += String(chunk);
      return (original as (...args: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
    }) as typeof process.stdout.write;
    const level = logger.getLevelName();
    logger.setLogLevel('INFO');
    try {
      expect((await app.api.get(`${API}/shared/${link.token}/records/${a.rec1}`)).status).toBe(200);
      expect((await app.api.get(`${API}/shared/${link.token}/records/${a.rec2}`)).status).toBe(404);
    } finally {
      logger.setLogLevel(level);
      process.stdout.write = original;
    }
    expect(captured).toContain(`/api/v1/shared/{token}/records/${a.rec1}`);
    expect(captured).not.toContain(link.token);
  });
});
