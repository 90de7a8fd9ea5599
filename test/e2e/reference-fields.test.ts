import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

/**
 * The fields docsift took on for the reference system's client (lib/http/compat.ts), read on
 * docsift's own paths: they are part of its API, not of the /compat profile alone.
 */

let app: TestApp;
let fake: FakeLlm;
let user: { id: string; token: string };

beforeAll(async () => {
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = 'test-key';
  process.env.OPENAI_MODELS = 'fake-model';
  app = await startTestApp();
  user = await app.api.newUser(await app.api.login(SUPERUSER.email, SUPERUSER.password));
});
afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

describe('fields for the reference client on /api/v1', () => {
  it('names the creator, counts, keeps validation_rules and is_time_axis_hint, and filters results by datarecord_ids', async () => {
    const token = user.token;
    const ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Fields' } })).body.id;
    const W = `/api/v1/workspaces/${ws}`;
    const texts = await Promise.all(
      ['Taxes rise.', 'The budget grows.'].map(
        async (text) =>
          (
            await app.api.post(`${W}/datasources`, {
              token,
              json: { name: text, type: 'text_block', options: { text } },
            })
          ).body.data[0].id as string,
      ),
    );
    for (const id of texts) await waitForDatasource(app.api, token, ws, id);
    const source = (await app.api.get(`${W}/datasources/${texts[0]}`, { token })).body;
    expect(source).toMatchObject({
      user_id: user.id,
      data_record_count: 1,
      origin_details: { text_content: 'Taxes rise.' },
    });

    const scheme = await app.api.post(`${W}/classification_schemes`, {
      token,
      json: {
        name: 'Topic',
        description: 'The topic',
        validation_rules: { required: ['topic'] },
        fields: [
          { name: 'topic', description: 'One word', type: 'str', is_time_axis_hint: false },
          { name: 'year', description: 'The year spoken of', type: 'int', is_time_axis_hint: true },
        ],
      },
    });
    expect(scheme.status, scheme.text).toBe(201);
    expect(scheme.body).toMatchObject({
      user_id: user.id,
      validation_rules: { required: ['topic'] },
      classification_count: 0,
      job_count: 0,
    });
    expect(scheme.body.fields.map((f: { is_time_axis_hint?: boolean }) => f.is_time_axis_hint)).toEqual([
      false,
      true,
    ]);

    const job = await app.api.post(`${W}/classification_jobs`, {
      token,
      json: {
        name: 'Run',
        scheme_ids: [scheme.body.id],
        datasource_ids: texts,
        provider: 'openai',
        model: 'fake-model',
      },
    });
    expect(job.status, job.text).toBe(201);
    let done = job.body;
    for (let i = 0; i < 200 && done.status !== 'completed'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      done = (await app.api.get(`${W}/classification_jobs/${job.body.id}`, { token })).body;
    }
    expect(done).toMatchObject({
      status: 'completed',
      user_id: user.id,
      result_count: 2,
      datarecord_count: 2,
      target_scheme_ids: [scheme.body.id],
      target_datasource_ids: texts,
    });
    const reread = (await app.api.get(`${W}/classification_schemes/${scheme.body.id}`, { token })).body;
    expect(reread).toMatchObject({
      classification_count: 2,
      job_count: 1,
      validation_rules: { required: ['topic'] },
    });

    const all = (await app.api.get(`${W}/classification_results?job_id=${job.body.id}`, { token })).body.data;
    const one = all[0];
    expect(one).toMatchObject({ datarecord_id: one.record_id, timestamp: one.created_at });
    const filtered = await app.api.get(
      `${W}/classification_results?datarecord_ids=${one.record_id}&scheme_ids=${scheme.body.id}`,
      { token },
    );
    expect(filtered.body.data.map((r: { id: string }) => r.id)).toEqual([one.id]);
    expect(filtered.body.count).toBe(1);

    // A dataset made of a job's results, as the reference's "dataset from a job" is.
    const fromJob = await app.api.post(`${W}/datasets`, {
      token,
      json: { name: 'Run set', results_filter: { job_id: job.body.id } },
    });
    expect(fromJob.status, fromJob.text).toBe(201);
    expect(fromJob.body).toMatchObject({
      member_count: 2,
      job_ids: [job.body.id],
      scheme_ids: [scheme.body.id],
    });
    const tooMuch = await app.api.post(`${W}/datasets`, {
      token,
      json: { name: 'Both', record_ids: [one.record_id], results_filter: { job_id: job.body.id } },
    });
    expect(tooMuch.status).toBe(422);
    const foreign = await app.api.post(`${W}/datasets`, {
      token,
      json: { name: 'Foreign', results_filter: { job_id: texts[0] } },
    });
    expect(foreign.status).toBe(422);
    expect((await app.api.get(`${W}/datasets`, { token })).body.count).toBe(1);

    const link = await app.api.post('/api/v1/shareables', {
      token,
      json: { resource_type: 'dataset', resource_id: fromJob.body.id },
    });
    expect(link.body.user_id).toBe(user.id);
  });
});
