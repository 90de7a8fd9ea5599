import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { EventBridgeClient, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { EVENT_SCHEMAS } from '#lib/events/types.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

// On the aws platform against moto: the dispatcher puts lifecycle events on the bus. moto
// delivers what is put to a rule's targets, so a rule on the bus sends them to an SQS queue
// the test reads, as a team's own rule would.
let app: TestApp;
let sqs: SQSClient;
let sinkUrl: string;
const suffix = randomBytes(4).toString('hex');
const bus = `docsift-events-${suffix}`;

beforeAll(async () => {
  process.env.AWS_ENDPOINT_URL = inject('motoEndpoint');
  app = await startTestApp({
    PLATFORM: 'aws',
    UPLOADS_BUCKET: `docsift-test-${suffix}`,
    INGEST_QUEUE: `docsift-ingest-${suffix}`,
    CLASSIFY_QUEUE: `docsift-classify-${suffix}`,
    TASK_QUEUE: `docsift-tasks-${suffix}`,
    TASK_SCHEDULE_GROUP: `docsift-${suffix}`,
    EVENT_BUS_NAME: bus,
  });
  sqs = new SQSClient({});
  sinkUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `docsift-sink-${suffix}` }))).QueueUrl!;
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: sinkUrl, AttributeNames: ['QueueArn'] }),
  );
  const events = new EventBridgeClient({});
  await events.send(
    new PutRuleCommand({ Name: 'all-docsift', EventBusName: bus, EventPattern: '{"source":["docsift"]}' }),
  );
  await events.send(
    new PutTargetsCommand({
      Rule: 'all-docsift',
      EventBusName: bus,
      Targets: [{ Id: 'sink', Arn: Attributes!.QueueArn! }],
    }),
  );
});
afterAll(async () => {
  await app?.stop();
  sqs?.destroy();
});

describe('lifecycle events on the aws platform', () => {
  it('puts a datasource’s completion on the stack’s bus, as source docsift with its detail type', async () => {
    const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
    const token = (await app.api.newUser(admin)).token;
    const ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Bus' } })).body.id;
    const ds = await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token,
      json: { name: 'On the bus', type: 'text_block', options: { text: 'One record' } },
    });
    expect(ds.status, ds.text).toBe(201);
    const id = ds.body.data[0].id;
    await waitForDatasource(app.api, token, ws, id);
    let put: { source: string; 'detail-type': string; detail: unknown } | undefined;
    for (let i = 0; i < 100 && !put; i++) {
      const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: sinkUrl, WaitTimeSeconds: 1 }));
      put = out.Messages?.map((m) => JSON.parse(m.Body!)).find(
        (e) => e['detail-type'] === 'datasource.completed',
      );
      if (!put) await sleep(100);
    }
    expect(put).toMatchObject({ source: 'docsift', 'detail-type': 'datasource.completed' });
    const detail = EVENT_SCHEMAS['datasource.completed'].parse(put!.detail);
    expect(detail).toMatchObject({ workspace_id: ws, data: { datasource_id: id, status: 'complete' } });
  });
});
