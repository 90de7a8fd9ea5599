import { randomBytes } from 'node:crypto';
import {
  CreateScheduleGroupCommand,
  DeleteScheduleGroupCommand,
  GetScheduleCommand,
  type GetScheduleCommandOutput,
  ResourceNotFoundException,
  SchedulerClient,
} from '@aws-sdk/client-scheduler';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { scheduleName } from '#lib/ports/scheduler/eventbridge.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';

// Recurring tasks on the aws platform against moto: the task routes write real EventBridge
// Scheduler schedules, and what they wrote (expression, time zone, state, target, input) is
// read back through the Scheduler API.
let app: TestApp;
let token: string;
let ws: string;
let source: string;
let scheduler: SchedulerClient;
const suffix = randomBytes(4).toString('hex');
const group = `docsift-${suffix}`;
const taskQueue = `docsift-tasks-${suffix}`;

beforeAll(async () => {
  process.env.AWS_ENDPOINT_URL = inject('motoEndpoint');
  app = await startTestApp({
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
afterAll(() => app.stop());

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

    expect((await app.api.patch(`${tasksPath()}/${id}`, { token, json: { status: 'paused' } })).status).toBe(
      200,
    );
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
