import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { config } from '#lib/config.ts';
import { platform } from '#lib/platform.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { allRecords, article, startSite, waitForDatasource } from '#test/support/ingest.ts';

// Runs of recurring tasks on the local platform, fired by the local scheduler with a clock of
// the test's own (never by waiting for wall-clock minutes) or by sending the firing message.
let app: TestApp;
let site: Awaited<ReturnType<typeof startSite>>;
let token: string;
let ws: string;
const pages: Record<string, string> = {};

function rss(links: string[]): string {
  return `<?xml version="1.0"?><rss version="2.0"><channel><title>Feed</title>${links
    .map((l) => `<item><title>${l}</title><link>${l}</link></item>`)
    .join('')}</channel></rss>`;
}

beforeAll(async () => {
  site = await startSite(pages);
  pages['/a'] = article('Page A', 'The first page.');
  pages['/n1'] = article('News 1', 'First news.');
  pages['/n2'] = article('News 2', 'Second news.');
  pages['/n3'] = article('News 3', 'Third news.');
  pages['/n4'] = article('News 4', 'Fourth news.');
  pages['/feed.xml'] = rss([`${site.url}/n1`]);
  app = await startTestApp({ SCRAPER_ALLOW_PRIVATE_HOSTS: 'true', TASK_MAX_CONSECUTIVE_FAILURES: '3' });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Runs' } })).body.id;
});
afterAll(async () => {
  await app.stop();
  await site.close();
});

const tasksPath = () => `/api/v1/workspaces/${ws}/recurring_tasks`;

async function urlDatasource(urls: string[]): Promise<string> {
  const ds = (
    await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token,
      json: { name: 'Target', type: 'url_list', options: { urls } },
    })
  ).body.data[0];
  await waitForDatasource(app.api, token, ws, ds.id);
  return ds.id;
}

async function ingestTask(target: string, configuration: Record<string, unknown>, schedule = 'rate(1 hour)') {
  const res = await app.api.post(tasksPath(), {
    token,
    json: {
      name: 'Ingest',
      type: 'ingest',
      schedule,
      configuration: { target_datasource_id: target, ...configuration },
    },
  });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

/** Waits until the task has `count` finished runs and returns them, newest first. */
async function finishedRuns(taskId: string, count: number) {
  for (let i = 0; i < 200; i++) {
    const runs = (await app.api.get(`${tasksPath()}/${taskId}/runs`, { token })).body.data;
    const finished = runs.filter((r: { status: string }) => r.status !== 'running');
    if (finished.length >= count) return finished;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`task ${taskId} did not finish ${count} runs`);
}

const fire = (taskId: string, scheduledFor: string) =>
  platform().queue.send(config().taskQueue, [
    { kind: 'run_task', task_id: taskId, scheduled_for: scheduledFor },
  ]);

describe('ingest runs', () => {
  it('scrapes new pages and feed items into the datasource, once each, marked with the task', async () => {
    const target = await urlDatasource([`${site.url}/a`]);
    const task = await ingestTask(target, {
      source_urls: [`${site.url}/a`],
      feeds: [`${site.url}/feed.xml`],
    });

    // The first firing after creation, by the scheduler's clock.
    const scheduler = app.scheduler()!;
    await scheduler.tick(new Date());
    await scheduler.tick(new Date(Date.now() + 61 * 60_000));
    const [first] = await finishedRuns(task.id, 1);
    expect(first).toMatchObject({
      status: 'succeeded',
      trigger: 'schedule',
      counts: { new_records: 1, already_present: 1, failed: 0 },
      message: '1 new record(s), 1 already present',
    });

    pages['/feed.xml'] = rss([`${site.url}/n1`, `${site.url}/n2`, `${site.url}/n3`, `${site.url}/missing`]);
    await scheduler.tick(new Date(Date.now() + 121 * 60_000));
    const [second] = await finishedRuns(task.id, 2);
    expect(second).toMatchObject({
      status: 'succeeded',
      counts: {
        new_records: 2,
        already_present: 2,
        failed: 1,
        failures: [{ url: `${site.url}/missing`, reason: 'HTTP 404' }],
      },
    });

    const records = await allRecords(app.api, token, ws, target);
    expect(records.map((r) => r.source_metadata.url ?? r.title).sort()).toHaveLength(4);
    const fromTask = records.filter((r) => r.source_metadata.recurring_task_id === task.id);
    expect(fromTask.map((r) => r.title).sort()).toEqual(['News 1', 'News 2', 'News 3']);

    const read = (await app.api.get(`${tasksPath()}/${task.id}`, { token })).body;
    expect(read).toMatchObject({ last_run_status: 'succeeded', consecutive_failures: 0 });
    expect(read.last_successful_run_at).not.toBeNull();
    const datasource = (await app.api.get(`/api/v1/workspaces/${ws}/datasources/${target}`, { token })).body;
    expect(datasource.record_count).toBe(4);
  });

  it('makes one run of a firing delivered three times', async () => {
    const target = await urlDatasource([`${site.url}/a`]);
    const task = await ingestTask(target, { source_urls: [`${site.url}/n4`] });
    const at = '2026-12-01T10:00:00Z';
    await Promise.all([fire(task.id, at), fire(task.id, at), fire(task.id, at)]);
    await finishedRuns(task.id, 1);
    await new Promise((r) => setTimeout(r, 1000));
    const runs = (await app.api.get(`${tasksPath()}/${task.id}/runs`, { token })).body;
    expect(runs.count).toBe(1);
    expect(runs.data[0]).toMatchObject({
      scheduled_for: '2026-12-01T10:00:00.000Z',
      counts: { new_records: 1 },
    });
    const n4 = (await allRecords(app.api, token, ws, target)).filter((r) => r.title === 'News 4');
    expect(n4).toHaveLength(1);
  });

  it('skips a firing while the previous run is still running', async () => {
    const target = await urlDatasource([`${site.url}/a`]);
    const task = await ingestTask(target, { source_urls: [`${site.url}/a`] });
    const db = await app.db();
    await db
      .insertInto('task_runs')
      .values({
        id: '0190a000-0000-7000-8000-00000000aaaa',
        task_id: task.id,
        workspace_id: ws,
        scheduled_for: new Date('2026-12-01T09:00:00Z'),
        trigger: 'schedule',
        status: 'running',
        message: null,
        job_id: null,
        finished_at: null,
      })
      .execute();
    await fire(task.id, '2026-12-01T10:00:00Z');
    const [skipped] = await finishedRuns(task.id, 1);
    expect(skipped).toMatchObject({ status: 'skipped', message: 'Previous run still running' });
    expect((await app.api.get(`${tasksPath()}/${task.id}`, { token })).body.consecutive_failures).toBe(0);
  });

  it('pauses a task after its configured number of failed runs, counting each failure once', async () => {
    const target = await urlDatasource([`${site.url}/a`]);
    const task = await ingestTask(target, { source_urls: [`${site.url}/gone-1`, `${site.url}/gone-2`] });
    for (const [i, at] of ['11:00', '12:00', '13:00'].entries()) {
      await fire(task.id, `2026-12-01T${at}:00Z`);
      // A redelivered firing of a finished run changes nothing.
      await fire(task.id, `2026-12-01T${at}:00Z`);
      await finishedRuns(task.id, i + 1);
    }
    const read = (await app.api.get(`${tasksPath()}/${task.id}`, { token })).body;
    expect(read).toMatchObject({
      status: 'error',
      consecutive_failures: 3,
      last_run_status: 'failed',
      next_run_at: null,
    });
    expect(read.status_reason).toMatch(/Paused after 3 failed runs in a row/);
    // Firings of a paused task make no run; resuming forgets the failures.
    await fire(task.id, '2026-12-01T14:00:00Z');
    await new Promise((r) => setTimeout(r, 800));
    expect((await app.api.get(`${tasksPath()}/${task.id}/runs`, { token })).body.count).toBe(3);
    const resumed = await app.api.patch(`${tasksPath()}/${task.id}`, { token, json: { status: 'active' } });
    expect(resumed.body).toMatchObject({ status: 'active', consecutive_failures: 0, status_reason: null });
  });

  it('runs once at start for the firings missed while the process was down', async () => {
    const target = await urlDatasource([`${site.url}/a`]);
    const task = await ingestTask(target, { source_urls: [`${site.url}/a`] }, 'rate(10 minutes)');
    // As if the task had been created an hour before a restart: six firings were missed.
    const db = await app.db();
    await db
      .updateTable('recurring_tasks')
      .set({ schedule_anchor: new Date(Date.now() - 60 * 60_000 - 30_000) })
      .where('id', '=', task.id)
      .execute();
    const restarted = (await import('#lib/local/scheduler.ts')).startLocalScheduler({
      source: { kind: 'table', db, taskQueue: config().taskQueue },
      queue: platform().queue,
      taskQueue: config().taskQueue,
      tickMs: 0,
      maintenanceMs: 0,
    });
    await restarted.tick(new Date());
    await restarted.stop();
    const runs = await finishedRuns(task.id, 1);
    await new Promise((r) => setTimeout(r, 500));
    expect((await app.api.get(`${tasksPath()}/${task.id}/runs`, { token })).body.count).toBe(1);
    expect(Date.now() - Date.parse(runs[0].scheduled_for)).toBeLessThan(10 * 60_000);
  });

  it('lets the user run a task now, outside its schedule', async () => {
    const target = await urlDatasource([`${site.url}/a`]);
    const task = await ingestTask(target, { source_urls: [`${site.url}/a`] });
    const accepted = await app.api.post(`${tasksPath()}/${task.id}/run`, { token });
    expect(accepted.status).toBe(202);
    const [run] = await finishedRuns(task.id, 1);
    expect(run).toMatchObject({
      trigger: 'manual',
      status: 'succeeded',
      scheduled_for: accepted.body.scheduled_for,
    });
  });
});
