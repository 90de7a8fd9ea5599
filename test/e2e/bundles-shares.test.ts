import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { waitFor } from '#test/support/bundles.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

let app: TestApp;
let fake: FakeLlm;
let alice: string;
let bob: string;
let source: string;
let jobId: string;
let datasourceId: string;
const schemeIds: string[] = [];

const API = '/api/v1';
const path = (w: string, rest: string) => `${API}/workspaces/${w}/${rest}`;

async function newWorkspace(token: string, name: string) {
  const res = await app.api.post(`${API}/workspaces`, { token, json: { name } });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

async function share(body: Record<string, unknown>) {
  const res = await app.api.post(`${API}/shareables`, { token: alice, json: body });
  expect(res.status, res.text).toBe(201);
  return res.body as { id: string; token: string };
}

/** What a workspace holds, by content: names, record texts, results by record text and scheme name. */
async function contents(w: string) {
  const get = async (rest: string) => (await app.api.get(path(w, rest), { token: bob })).body;
  const schemes = new Map<string, string>(
    (await get('classification_schemes?limit=100')).data.map((s: any) => [s.id, s.name]),
  );
  const records = new Map<string, string>(
    (await get('datarecords?limit=100')).data.map((r: any) => [r.id, r.text_content]),
  );
  return {
    datasources: (await get('datasources?limit=100')).data.map((d: any) => [d.name, d.record_count]),
    schemes: [...schemes.values()].sort(),
    jobs: (await get('classification_jobs?limit=100')).data.map((j: any) => [j.name, j.status]),
    results: (await get('classification_results?limit=100')).data
      .map((r: any) => [records.get(r.record_id), schemes.get(r.scheme_id), r.value])
      .sort((a: unknown[], b: unknown[]) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
  };
}

async function importsOf(w: string): Promise<number> {
  const db = await app.db();
  const { rows } = await sql<{
    n: number;
  }>`select count(*)::int as n from bundle_imports where workspace_id = ${w}`.execute(db);
  return rows[0]!.n;
}

beforeAll(async () => {
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = 'sk-test-bundles';
  process.env.OPENAI_MODELS = 'fake-model';
  app = await startTestApp({ QUEUE_VISIBILITY_TIMEOUT_SECONDS: '1' });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  alice = (await app.api.newUser(admin)).token;
  bob = (await app.api.newUser(admin)).token;
  source = await newWorkspace(alice, 'Alice');
  const scheme = await app.api.post(path(source, 'classification_schemes'), {
    token: alice,
    json: {
      name: 'Tone',
      description: 'How the text sounds',
      fields: [
        { name: 'intensity', description: '1 calm .. 5 heated', type: 'int', scale_min: 1, scale_max: 5 },
      ],
    },
  });
  expect(scheme.status).toBe(201);
  schemeIds.push(scheme.body.id);
  const ds = await app.api.post(path(source, 'datasources'), {
    token: alice,
    json: { name: 'Speech', type: 'text_block', options: { text: 'Hospitals need money; taxes rise.' } },
  });
  datasourceId = ds.body.data[0].id;
  await waitForDatasource(app.api, alice, source, datasourceId);
  await app.api.post(path(source, `datasources/${datasourceId}/records`), {
    token: alice,
    json: { content: 'Clinics report long queues.', content_type: 'text' },
  });
  const job = await app.api.post(path(source, 'classification_jobs'), {
    token: alice,
    json: { name: 'Run', scheme_ids: schemeIds, datasource_ids: [datasourceId] },
  });
  expect(job.status, job.text).toBe(201);
  jobId = job.body.id;
  for (const deadline = Date.now() + 40_000; ; ) {
    const res = await app.api.get(path(source, `classification_jobs/${jobId}`), { token: alice });
    if (res.body.status === 'completed') break;
    if (Date.now() > deadline) throw new Error(`job ${res.body.status}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}, 120_000);
afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

describe('an import from a share link', () => {
  it('an import link of a job copies the job with its scheme, its datasource’s records and its results, every id remapped; the token is neither stored nor echoed', async () => {
    const link = await share({
      resource_type: 'classification_job',
      resource_id: jobId,
      permission_level: 'import',
    });
    const target = await newWorkspace(bob, 'Bob');
    const res = await app.api.post(path(target, 'imports'), {
      token: bob,
      json: { share_token: link.token },
    });
    expect(res.status, res.text).toBe(201);
    expect(res.body).toMatchObject({
      status: 'pending',
      upload: null,
      source: { share_link_id: link.id, share_token: 'redacted' },
    });
    expect(res.text).not.toContain(link.token);
    const done = await waitFor(app.api, bob, path(target, `imports/${res.body.id}`));
    expect(done.status, done.error_message).toBe('complete');
    expect(done).toMatchObject({
      format: 'docsift-bundle',
      bundle_type: 'classification_job',
      signature: 'verified',
      counts: { schemes: 1, datasources: 1, records: 2, jobs: 1, results: 2 },
    });
    expect(await contents(target)).toEqual({
      datasources: [['Speech', 2]],
      schemes: ['Tone'],
      jobs: [['Run', 'completed']],
      results: expect.any(Array),
    });
    expect((await contents(target)).results).toHaveLength(2);
    const job = (await app.api.get(path(target, 'classification_jobs'), { token: bob })).body.data[0];
    expect(job.id).not.toBe(jobId);
    expect(job.scheme_ids).not.toContain(schemeIds[0]);
    expect(job.datasource_ids).not.toContain(datasourceId);
    expect(job.progress).toMatchObject({ succeeded: 2, total: 2 });
    // One use counted; the token appears in no import row.
    expect((await app.api.get(`${API}/shareables/${link.id}`, { token: alice })).body.use_count).toBe(1);
    const db = await app.db();
    const rows = await db.selectFrom('bundle_imports').selectAll().execute();
    expect(JSON.stringify(rows)).not.toContain(link.token);
  });

  it('an import link of a workspace copies the workspace', async () => {
    const link = await share({ resource_type: 'workspace', resource_id: source, permission_level: 'import' });
    const target = await newWorkspace(bob, 'Bob whole');
    const res = await app.api.post(path(target, 'imports'), {
      token: bob,
      json: { share_token: link.token },
    });
    expect(res.status, res.text).toBe(201);
    const done = await waitFor(app.api, bob, path(target, `imports/${res.body.id}`));
    expect(done.status, done.error_message).toBe('complete');
    expect(done).toMatchObject({ bundle_type: 'workspace' });
    const copied = await contents(target);
    expect(copied).toMatchObject({
      datasources: [['Speech', 2]],
      schemes: ['Tone'],
      jobs: [['Run', 'completed']],
    });
    expect(copied.results).toHaveLength(2);
  });

  it('a read_only link is refused with 403 and its reason, nothing created and no use counted', async () => {
    const link = await share({ resource_type: 'classification_job', resource_id: jobId });
    const target = await newWorkspace(bob, 'Bob refused');
    const res = await app.api.post(path(target, 'imports'), {
      token: bob,
      json: { share_token: link.token },
    });
    expect(res.status).toBe(403);
    expect(res.body.detail).toBe('This link is read-only');
    expect(await importsOf(target)).toBe(0);
    expect((await app.api.get(path(target, 'classification_jobs'), { token: bob })).body.data).toEqual([]);
    expect((await app.api.get(`${API}/shareables/${link.id}`, { token: alice })).body.use_count).toBe(0);
  });

  it('an expired link → 410, an unknown token → 404, and another user’s workspace → 404', async () => {
    const link = await share({
      resource_type: 'classification_job',
      resource_id: jobId,
      permission_level: 'import',
      expires_at: new Date(Date.now() + 1500).toISOString(),
    });
    const target = await newWorkspace(bob, 'Bob late');
    await new Promise((r) => setTimeout(r, 1600));
    const expired = await app.api.post(path(target, 'imports'), {
      token: bob,
      json: { share_token: link.token },
    });
    expect(expired.status).toBe(410);
    expect(expired.body.detail).toBe('This link has expired');
    const unknown = await app.api.post(path(target, 'imports'), {
      token: bob,
      json: { share_token: 'x'.repeat(43) },
    });
    expect(unknown.status).toBe(404);
    const live = await share({
      resource_type: 'scheme',
      resource_id: schemeIds[0],
      permission_level: 'import',
    });
    const notBobs = await app.api.post(path(source, 'imports'), {
      token: bob,
      json: { share_token: live.token },
    });
    expect(notBobs.status).toBe(404);
    expect(await importsOf(target)).toBe(0);
  });
});
