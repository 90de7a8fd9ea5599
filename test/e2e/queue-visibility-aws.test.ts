import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { lambdaContext } from '#lib/local/api-gateway.ts';
import { newSqsClient, SqsQueueSource } from '#lib/ports/queue/sqs.ts';
import { sqsBatchWorker } from '#lib/workers/batch.ts';
import { keepingVisible } from '#lib/workers/visibility.ts';

// A Lambda worker on moto's SQS: the queue hides a received message for an hour (six times a
// function timeout), the worker's heartbeat hides it a short window at a time while it works.

let client: SQSClient;
let url: string;
const name = `visibility-${randomBytes(4).toString('hex')}`;

beforeAll(async () => {
  process.env.AWS_ENDPOINT_URL = inject('motoEndpoint');
  client = newSqsClient();
  url = (
    await client.send(new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: '3600' } }))
  ).QueueUrl!;
});
afterAll(() => client.destroy());

const visible = async () =>
  (
    await client.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    )
  ).Messages ?? [];

it('keeps a message hidden while the worker runs, and gives a failed one back within the window', async () => {
  await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'work' }));
  const source = new SqsQueueSource(name, client);
  const records: SQSRecord[] = await source.receive(1);
  expect(records).toHaveLength(1);
  let seenMeanwhile = -1;
  const worker = keepingVisible(
    sqsBatchWorker(async () => {
      // Longer than the window: only the heartbeat keeps it hidden.
      await sleep(3_500);
      seenMeanwhile = (await visible()).length;
      throw new Error('fails');
    }),
    { windowSeconds: 2, client },
  );
  const result = await worker({ Records: records }, lambdaContext('worker', 60_000));
  expect(result.batchItemFailures).toEqual([{ itemIdentifier: records[0]!.messageId }]);
  expect(seenMeanwhile).toBe(0);
  // Not after the queue's hour: within the window of the last beat.
  const deadline = Date.now() + 5_000;
  let back: unknown[] = [];
  while (back.length === 0 && Date.now() < deadline) {
    back = await visible();
    if (back.length === 0) await sleep(250);
  }
  expect(back).toHaveLength(1);
}, 20_000);
