import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';

// The recurring-tasks API on the local platform: validation, ownership, status changes and
// what a task reads back. Firings and runs are tested in tasks-runs tests; Scheduler's side in
// tasks-aws.test.ts.
let app: TestApp;
let token: string;
let otherToken: string;
let ws: string;
let urlSource: string;
let textSource: string;
let scheme: string;

beforeAll(async () => {
  process.env.OPENAI_BASE_URL = 'http://127.0.0.1:9/v1';
  process.env.OPENAI_MODELS = 'fake-model,other-model';
  app = await startTestApp();
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  otherToken = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Tasks' } })).body.id;
  urlSource = (
    await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token,
      json: { name: 'News', type: 'url_list', options: { urls: ['http://127.0.0.1:9/a'] } },
    })
  ).body.data[0]?.id;
  textSource = (
    await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token,
      json: { name: 'Note', type: 'text_block', options: { text: 'A note.' } },
    })
  ).body.data[0].id;
  scheme = (
    await app.api.post(`/api/v1/workspaces/${ws}/classification_schemes`, {
      token,
      json: { name: 'Topic', fields: [{ name: 'topic', description: 'The topic', type: 'str' }] },
    })
  ).body.id;
});
afterAll(() => app.stop());

const tasksPath = () => `/api/v1/workspaces/${ws}/recurring_tasks`;

function classifyTask(overrides: Record<string, unknown> = {}) {
  return {
    name: 'Nightly topics',
    type: 'classify',
    schedule: '0 3 * * *',
    timezone: 'Europe/Berlin',
    configuration: { datasource_ids: [textSource], scheme_ids: [scheme] },
    ...overrides,
  };
}

describe('creating a recurring task', () => {
  it('stores a classify task with EventBridge’s form of its schedule and its next firing', async () => {
    const res = await app.api.post(tasksPath(), { token, json: classifyTask() });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: 'Nightly topics',
      type: 'classify',
      schedule: '0 3 * * *',
      schedule_expression: 'cron(0 3 * * ? *)',
      timezone: 'Europe/Berlin',
      status: 'active',
      configuration: {
        datasource_ids: [textSource],
        scheme_ids: [scheme],
        process_only_new: true,
        job_name_template: 'Auto-classify: {task_name} – {timestamp}',
      },
      last_run_at: null,
      consecutive_failures: 0,
    });
    // 03:00 in Berlin is 02:00 UTC in winter.
    expect(res.body.next_run_at).toMatch(/T02:00:00\.000Z$/);
    expect(new Date(res.body.next_run_at).getTime()).toBeGreaterThan(Date.now());
  });

  it('stores an ingest task for a URL datasource', async () => {
    const res = await app.api.post(tasksPath(), {
      token,
      json: {
        name: 'Feeds',
        type: 'ingest',
        schedule: 'rate(1 hour)',
        configuration: { target_datasource_id: urlSource, feeds: ['https://example.com/feed.xml'] },
      },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      schedule_expression: 'rate(1 hour)',
      timezone: 'UTC',
      configuration: {
        target_datasource_id: urlSource,
        source_urls: [],
        feeds: ['https://example.com/feed.xml'],
      },
    });
  });

  it.each([
    [{ schedule: '* * * * *' }, 'schedule', /minimum interval is 5 minutes/],
    [{ schedule: '0 0 * * * *' }, 'schedule', /6-field cron \(with seconds\)/],
    [{ schedule: 'tomorrow' }, 'schedule', /Not a schedule/],
    [{ timezone: 'Moon/Base' }, 'timezone', /Unknown time zone/],
    [{ configuration: { datasource_ids: [], scheme_ids: [] } }, 'configuration.datasource_ids', /./],
    [
      { configuration: { datasource_ids: ['0190a000-0000-7000-8000-000000000000'], scheme_ids: [] } },
      'configuration.scheme_ids',
      /./,
    ],
    [{ type: 'export' }, 'type', /./],
  ])('refuses %j with a 422 on %s', async (overrides, path, message) => {
    const res = await app.api.post(tasksPath(), { token, json: classifyTask(overrides) });
    expect(res.status).toBe(422);
    const error = res.body.errors.find((e: { path: string }) => e.path === path);
    expect(error, JSON.stringify(res.body.errors)).toBeDefined();
    expect(error.message).toMatch(message);
  });

  it('refuses ids of other workspaces, datasources of the wrong kind and unconfigured models', async () => {
    const foreignWs = (
      await app.api.post('/api/v1/workspaces', { token: otherToken, json: { name: 'Other' } })
    ).body.id;
    const foreignScheme = (
      await app.api.post(`/api/v1/workspaces/${foreignWs}/classification_schemes`, {
        token: otherToken,
        json: { name: 'Theirs', fields: [{ name: 'x', description: 'x', type: 'str' }] },
      })
    ).body.id;
    const foreign = await app.api.post(tasksPath(), {
      token,
      json: classifyTask({
        configuration: { datasource_ids: [textSource], scheme_ids: [scheme, foreignScheme] },
      }),
    });
    expect(foreign.status).toBe(422);
    expect(foreign.body.errors).toEqual([
      expect.objectContaining({ path: 'configuration.scheme_ids.1', message: 'Not found in this workspace' }),
    ]);

    const wrongKind = await app.api.post(tasksPath(), {
      token,
      json: {
        name: 'Scrape into text',
        type: 'ingest',
        schedule: '@daily',
        configuration: { target_datasource_id: textSource, source_urls: ['https://example.com/'] },
      },
    });
    expect(wrongKind.status).toBe(422);
    expect(wrongKind.body.errors[0]).toMatchObject({
      path: 'configuration.target_datasource_id',
      message: expect.stringMatching(/text_block datasource cannot take scraped pages/),
    });

    const model = await app.api.post(tasksPath(), {
      token,
      json: classifyTask({
        configuration: { datasource_ids: [textSource], scheme_ids: [scheme], model: 'gpt-9' },
      }),
    });
    expect(model.status).toBe(422);
    expect(model.body.errors[0]).toMatchObject({ path: 'configuration.model' });
  });

  it('is 404 in another user’s workspace', async () => {
    const res = await app.api.post(tasksPath(), { token: otherToken, json: classifyTask() });
    expect(res.status).toBe(404);
  });
});

describe('a task’s life', () => {
  it('pauses, resumes, changes schedule and configuration, and deletes', async () => {
    const created = (await app.api.post(tasksPath(), { token, json: classifyTask({ name: 'Life' }) })).body;
    const path = `${tasksPath()}/${created.id}`;

    const paused = await app.api.patch(path, { token, json: { status: 'paused' } });
    expect(paused.status).toBe(200);
    expect(paused.body).toMatchObject({ status: 'paused', next_run_at: null });

    const changed = await app.api.patch(path, {
      token,
      json: {
        status: 'active',
        schedule: '30 8 * * 1-5',
        timezone: 'UTC',
        configuration: { datasource_ids: [textSource], scheme_ids: [scheme], process_only_new: false },
      },
    });
    expect(changed.status).toBe(200);
    expect(changed.body).toMatchObject({
      status: 'active',
      schedule_expression: 'cron(30 8 ? * MON,TUE,WED,THU,FRI *)',
      configuration: { process_only_new: false },
    });
    expect(changed.body.next_run_at).toMatch(/T08:30:00\.000Z$/);

    // The configuration is checked against the task's type on every change.
    const bad = await app.api.patch(path, {
      token,
      json: { configuration: { target_datasource_id: urlSource } },
    });
    expect(bad.status).toBe(422);
    // `error` is the system's to set.
    expect((await app.api.patch(path, { token, json: { status: 'error' } })).status).toBe(422);
    expect((await app.api.patch(path, { token: otherToken, json: { name: 'Mine' } })).status).toBe(404);

    expect((await app.api.get(path, { token })).body.name).toBe('Life');
    expect((await app.api.delete(path, { token: otherToken })).status).toBe(404);
    expect((await app.api.delete(path, { token })).status).toBe(204);
    expect((await app.api.get(path, { token })).status).toBe(404);
  });

  it('lists with status and type filters and pages', async () => {
    const paused = (
      await app.api.post(tasksPath(), { token, json: classifyTask({ name: 'Paused one', status: 'paused' }) })
    ).body;
    const list = await app.api.get(`${tasksPath()}?status=paused&type=classify`, { token });
    expect(list.status).toBe(200);
    expect(list.body.data.map((t: { id: string }) => t.id)).toContain(paused.id);
    expect(list.body.data.every((t: { status: string }) => t.status === 'paused')).toBe(true);

    const all = await app.api.get(`${tasksPath()}?limit=1`, { token });
    expect(all.body.data).toHaveLength(1);
    expect(all.body.count).toBeGreaterThan(1);
    const next = await app.api.get(`${tasksPath()}?limit=1&cursor=${all.body.next_cursor}`, { token });
    expect(next.body.data[0].id).not.toBe(all.body.data[0].id);

    expect((await app.api.get(`${tasksPath()}?type=nonsense`, { token })).status).toBe(422);
    expect((await app.api.get(tasksPath(), { token: otherToken })).status).toBe(404);
  });

  it('accepts a run now (202) and has an empty history at first', async () => {
    const task = (await app.api.post(tasksPath(), { token, json: classifyTask({ name: 'Run me' }) })).body;
    const runs = await app.api.get(`${tasksPath()}/${task.id}/runs`, { token });
    expect(runs.status).toBe(200);
    expect(runs.body).toMatchObject({ data: [], count: 0, next_cursor: null });
    const run = await app.api.post(`${tasksPath()}/${task.id}/run`, { token });
    expect(run.status).toBe(202);
    expect(run.body).toMatchObject({ task_id: task.id });
    expect(Date.parse(run.body.scheduled_for)).not.toBeNaN();
    expect((await app.api.post(`${tasksPath()}/${task.id}/run`, { token: otherToken })).status).toBe(404);
  });
});
