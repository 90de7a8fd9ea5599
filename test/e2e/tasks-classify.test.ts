import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { config } from '#lib/config.ts';
import { platform } from '#lib/platform.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

// Classify runs of recurring tasks on the local platform, with the fake LLM: each run's job
// covers the records new since the last successful run, and the run ends with its job.
let app: TestApp;
let fake: FakeLlm;
let token: string;
let ws: string;
let source: string;
let scheme: string;

beforeAll(async () => {
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = 'sk-tasks';
  process.env.OPENAI_MODELS = 'fake-model';
  app = await startTestApp();
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Auto' } })).body.id;
  source = (
    await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token,
      json: { name: 'Notes', type: 'text_block', options: { text: 'The first note.' } },
    })
  ).body.data[0].id;
  await waitForDatasource(app.api, token, ws, source);
  await append('The second note.');
  scheme = (
    await app.api.post(`/api/v1/workspaces/${ws}/classification_schemes`, {
      token,
      json: { name: 'Mood', fields: [{ name: 'calm', description: 'Is it calm?', type: 'bool' }] },
    })
  ).body.id;
});
afterAll(async () => {
  await app.stop();
  await fake.close();
});

async function append(text: string) {
  const res = await app.api.post(`/api/v1/workspaces/${ws}/datasources/${source}/records`, {
    token,
    json: { content: text, content_type: 'text' },
  });
  expect(res.status).toBe(201);
  return res.body.id as string;
}

const tasksPath = () => `/api/v1/workspaces/${ws}/recurring_tasks`;
const fire = (taskId: string, at: string) =>
  platform().queue.send(config().taskQueue, [{ kind: 'run_task', task_id: taskId, scheduled_for: at }]);

async function runAt(taskId: string, at: string) {
  for (let i = 0; i < 300; i++) {
    const runs = (await app.api.get(`${tasksPath()}/${taskId}/runs?limit=100`, { token })).body.data;
    const run = runs.find((r: { scheduled_for: string }) => r.scheduled_for === at);
    if (run && run.status !== 'running') return run;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no finished run at ${at}`);
}

async function resultRecords(jobId: string): Promise<string[]> {
  const res = await app.api.get(`/api/v1/workspaces/${ws}/classification_results?job_id=${jobId}`, { token });
  return res.body.data.map((r: { record_id: string }) => r.record_id).sort();
}

describe('classify runs', () => {
  it('classifies what is new since the last successful run, and skips a run with nothing new', async () => {
    const task = (
      await app.api.post(tasksPath(), {
        token,
        json: {
          name: 'Moods',
          type: 'classify',
          schedule: '@hourly',
          configuration: {
            datasource_ids: [source],
            scheme_ids: [scheme],
            job_name_template: '{task_name} on {date}',
          },
        },
      })
    ).body;

    await fire(task.id, '2026-12-01T10:00:00Z');
    const run1 = await runAt(task.id, '2026-12-01T10:00:00.000Z');
    expect(run1).toMatchObject({ status: 'succeeded', message: 'Job completed', counts: { records: 2 } });
    const job1 = (await app.api.get(`/api/v1/workspaces/${ws}/classification_jobs/${run1.job_id}`, { token }))
      .body;
    expect(job1).toMatchObject({ name: 'Moods on 2026-12-01', status: 'completed', progress: { total: 2 } });

    const fresh = await append('A third note, new since the first run.');
    await fire(task.id, '2026-12-01T11:00:00Z');
    const run2 = await runAt(task.id, '2026-12-01T11:00:00.000Z');
    expect(run2).toMatchObject({ status: 'succeeded', counts: { records: 1 } });
    expect(await resultRecords(run2.job_id)).toEqual([fresh]);

    await fire(task.id, '2026-12-01T12:00:00Z');
    const run3 = await runAt(task.id, '2026-12-01T12:00:00.000Z');
    expect(run3).toMatchObject({ status: 'skipped', message: 'No new records', job_id: null });

    const read = (await app.api.get(`${tasksPath()}/${task.id}`, { token })).body;
    expect(read).toMatchObject({
      last_run_status: 'skipped',
      last_job_id: run2.job_id,
      consecutive_failures: 0,
    });
  });

  it('makes one job of a firing delivered three times', async () => {
    const task = (
      await app.api.post(tasksPath(), {
        token,
        json: {
          name: 'All',
          type: 'classify',
          schedule: '@daily',
          configuration: { datasource_ids: [source], scheme_ids: [scheme], process_only_new: false },
        },
      })
    ).body;
    const at = '2026-12-02T00:00:00Z';
    await Promise.all([fire(task.id, at), fire(task.id, at), fire(task.id, at)]);
    const run = await runAt(task.id, '2026-12-02T00:00:00.000Z');
    expect(run.status).toBe('succeeded');
    await new Promise((r) => setTimeout(r, 500));
    const jobs = (await app.api.get(`/api/v1/workspaces/${ws}/classification_jobs?limit=1000`, { token }))
      .body.data;
    expect(jobs.filter((j: { description: string | null }) => j.description?.includes(task.id))).toHaveLength(
      1,
    );
    expect((await app.api.get(`${tasksPath()}/${task.id}/runs`, { token })).body.count).toBe(1);
  });

  it('ends the run when its job is cancelled, as a failure', async () => {
    fake.latencyMs = 5_000;
    try {
      const task = (
        await app.api.post(tasksPath(), {
          token,
          json: {
            name: 'Slow',
            type: 'classify',
            schedule: '@daily',
            configuration: { datasource_ids: [source], scheme_ids: [scheme], process_only_new: false },
          },
        })
      ).body;
      await fire(task.id, '2026-12-03T00:00:00Z');
      let jobId: string | undefined;
      for (let i = 0; i < 100 && !jobId; i++) {
        jobId =
          (await app.api.get(`${tasksPath()}/${task.id}/runs`, { token })).body.data[0]?.job_id ?? undefined;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(jobId).toBeDefined();
      const cancelled = await app.api.post(`/api/v1/workspaces/${ws}/classification_jobs/${jobId}/cancel`, {
        token,
      });
      expect(cancelled.status).toBe(200);
      const run = await runAt(task.id, '2026-12-03T00:00:00.000Z');
      expect(run).toMatchObject({ status: 'failed', message: expect.stringMatching(/^Job cancelled/) });
      expect((await app.api.get(`${tasksPath()}/${task.id}`, { token })).body.consecutive_failures).toBe(1);
    } finally {
      fake.latencyMs = 0;
    }
  });
});
