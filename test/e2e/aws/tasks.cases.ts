import { randomBytes } from 'node:crypto';
import {
  CreateScheduleGroupCommand,
  DeleteScheduleGroupCommand,
  GetScheduleCommand,
  type GetScheduleCommandOutput,
  ResourceNotFoundException,
  SchedulerClient,
} from '@aws-sdk/client-scheduler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { config } from '#lib/config.ts';
import { platform } from '#lib/platform.ts';
import { scheduleName } from '#lib/ports/scheduler/eventbridge.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { article, startSite, waitForDatasource } from '#test/support/ingest.ts';

import type { Emulator } from './emulators.ts';

/**
 * Recurring tasks on the aws platform against an AWS emulator: the task routes write real EventBridge
 * Scheduler schedules, and what they wrote (expression, time zone, state, target, input) is
 * read back through the Scheduler API.
 * Registers the same tests for each emulator (one test file each).
 */
export function tasksCases(emulator: Emulator): void {
  let app: TestApp;
  let token: string;
  let ws: string;
  let source: string;
  let scheduler: SchedulerClient;
  let site: Awaited<ReturnType<typeof startSite>>;
  const suffix = randomBytes(4).toString('hex');
  const group = `docsift-${suffix}`;
  const taskQueue = `docsift-tasks-${suffix}`;

  beforeAll(async () => {
    process.env.AWS_ENDPOINT_URL = emulator.endpoint();
    site = await startSite({ '/a': article('Page A', 'A page on the emulator.') });
    app = await startTestApp({
      SCRAPER_ALLOW_PRIVATE_HOSTS: 'true',
      PLATFORM: 'aws',
      UPLOADS_BUCKET: `docsift-test-${suffix}`,
      INGEST_QUEUE: `docsift-ingest-${suffix}`,
      CLASSIFY_QUEUE: `docsift-classify-${suffix}`,
      TASK_QUEUE: taskQueue,
      TASK_SCHEDULE_GROUP: group,
    });
    scheduler = new SchedulerClient({});
    const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
    token = (await app.api.newUser(admin)).token;
    ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Scheduled' } })).body.id;
    source = (
      await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
        token,
        json: { name: 'News', type: 'url_list', options: { urls: ['http://127.0.0.1:9/a'] } },
      })
    ).body.data[0].id;
  });
  afterAll(async () => {
    await app.stop();
    await site.close();
  });

  const tasksPath = () => `/api/v1/workspaces/${ws}/recurring_tasks`;

  async function readSchedule(taskId: string): Promise<GetScheduleCommandOutput | undefined> {
    try {
      return await scheduler.send(new GetScheduleCommand({ GroupName: group, Name: scheduleName(taskId) }));
    } catch (error) {
      if (error instanceof ResourceNotFoundException) return undefined;
      throw error;
    }
  }

  const ingestTask = () => ({
    name: 'Morning news',
    type: 'ingest',
    schedule: '30 6 * * 1-5',
    timezone: 'Europe/Berlin',
    configuration: { target_datasource_id: source, source_urls: ['https://example.com/news'] },
  });

  describe('task schedules in EventBridge Scheduler', () => {
    it('creates, disables, updates and deletes the schedule with the task', async () => {
      const created = await app.api.post(tasksPath(), {
        token,
        json: ingestTask(),
      });
      expect(created.status).toBe(201);
      const id = created.body.id;

      const schedule = await readSchedule(id);
      expect(schedule).toMatchObject({
        GroupName: group,
        ScheduleExpression: 'cron(30 6 ? * MON,TUE,WED,THU,FRI *)',
        ScheduleExpressionTimezone: 'Europe/Berlin',
        State: 'ENABLED',
        FlexibleTimeWindow: { Mode: 'OFF' },
      });
      expect(schedule!.Target!.Arn).toMatch(new RegExp(`:${taskQueue}$`));
      expect(schedule!.Target!.DeadLetterConfig?.Arn).toMatch(new RegExp(`:${taskQueue}-dlq$`));
      expect(JSON.parse(schedule!.Target!.Input!)).toEqual({
        kind: 'run_task',
        task_id: id,
        scheduled_for: '<aws.scheduler.scheduled-time>',
      });

      expect(
        (await app.api.patch(`${tasksPath()}/${id}`, { token, json: { status: 'paused' } })).status,
      ).toBe(200);
      expect((await readSchedule(id))?.State).toBe('DISABLED');

      const updated = await app.api.patch(`${tasksPath()}/${id}`, {
        token,
        json: { status: 'active', schedule: 'rate(2 hours)', timezone: 'America/New_York' },
      });
      expect(updated.status).toBe(200);
      expect(await readSchedule(id)).toMatchObject({
        ScheduleExpression: 'rate(2 hours)',
        ScheduleExpressionTimezone: 'America/New_York',
        State: 'ENABLED',
      });

      expect((await app.api.delete(`${tasksPath()}/${id}`, { token })).status).toBe(204);
      expect(await readSchedule(id)).toBeUndefined();
    });

    it('answers 503 and keeps nothing when Scheduler refuses', async () => {
      const before = (await app.api.get(tasksPath(), { token })).body.count;
      // Without its group, Scheduler refuses every schedule of it.
      await scheduler.send(new DeleteScheduleGroupCommand({ Name: group }));
      try {
        const res = await app.api.post(tasksPath(), {
          token,
          json: ingestTask(),
        });
        expect(res.status).toBe(503);
        expect(res.body.detail).toMatch(/scheduler is unavailable/);
        expect((await app.api.get(tasksPath(), { token })).body.count).toBe(before);
      } finally {
        await scheduler.send(new CreateScheduleGroupCommand({ Name: group }));
      }
    });
  });

  describe('auto-pause on the aws platform', () => {
    it('disables the schedule in Scheduler after five failed runs in a row', async () => {
      const task = (
        await app.api.post(tasksPath(), {
          token,
          json: {
            ...ingestTask(),
            configuration: { target_datasource_id: source, source_urls: [`${site.url}/gone`] },
          },
        })
      ).body;
      // One after the other: a firing while the previous run is still running would be skipped.
      let read = task;
      for (let hour = 10; hour < 15; hour++) {
        await platform().queue.send(config().taskQueue, [
          { kind: 'run_task', task_id: task.id, scheduled_for: `2026-12-01T${hour}:00:00Z` },
        ]);
        for (let i = 0; i < 100 && read.consecutive_failures < hour - 9; i++) {
          await new Promise((r) => setTimeout(r, 100));
          read = (await app.api.get(`${tasksPath()}/${task.id}`, { token })).body;
        }
      }
      expect(read).toMatchObject({ status: 'error', consecutive_failures: 5 });
      expect((await readSchedule(task.id))?.State).toBe('DISABLED');
    });
  });

  describe('firings read back from Scheduler', () => {
    it('runs a due schedule through its own target, and removes the schedule of a task deleted with its workspace', async () => {
      const ws2 = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Doomed' } })).body.id;
      const target = (
        await app.api.post(`/api/v1/workspaces/${ws2}/datasources`, {
          token,
          json: { name: 'News', type: 'url_list', options: { urls: ['http://127.0.0.1:9/x'] } },
        })
      ).body.data[0].id;
      await waitForDatasource(app.api, token, ws2, target);
      const task = (
        await app.api.post(`/api/v1/workspaces/${ws2}/recurring_tasks`, {
          token,
          json: {
            name: 'Hourly',
            type: 'ingest',
            schedule: '0 * * * *',
            configuration: { target_datasource_id: target, source_urls: [`${site.url}/a`] },
          },
        })
      ).body;
      const clock = app.scheduler()!;
      const now = Date.now();
      await clock.tick(new Date(now));
      await clock.tick(new Date(now + 61 * 60_000));
      let runs: { data: { status: string; trigger: string; counts: { new_records?: number } }[] } = {
        data: [],
      };
      // Generous: on a loaded machine the firing crosses SQS, the dispatcher and a scrape.
      for (let i = 0; i < 300 && runs.data[0]?.status !== 'succeeded'; i++) {
        await new Promise((r) => setTimeout(r, 150));
        runs = (await app.api.get(`/api/v1/workspaces/${ws2}/recurring_tasks/${task.id}/runs`, { token }))
          .body;
      }
      expect(runs.data).toHaveLength(1);
      expect(runs.data[0]).toMatchObject({
        status: 'succeeded',
        trigger: 'schedule',
        counts: { new_records: 1 },
      });

      // The workspace goes, its tasks by cascade; Scheduler still holds the schedule.
      expect((await app.api.delete(`/api/v1/workspaces/${ws2}`, { token })).status).toBe(204);
      expect(await readSchedule(task.id)).toBeDefined();
      await clock.tick(new Date(now + 121 * 60_000));
      for (let i = 0; i < 300 && (await readSchedule(task.id)); i++)
        await new Promise((r) => setTimeout(r, 150));
      expect(await readSchedule(task.id)).toBeUndefined();
    }, 120_000);
  });
}
