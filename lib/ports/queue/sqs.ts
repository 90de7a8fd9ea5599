import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueUrlCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import type { SQSMessageAttributes, SQSRecord } from 'aws-lambda';
import { CORRELATION_ATTRIBUTE, correlationId } from '#lib/observability/correlation.ts';
import { captureClient } from '#lib/observability/tracing.ts';
import { MAX_DELAY_SECONDS, type QueueSender, type QueueSource, type SendOptions } from './queue.ts';

/**
 * A new SQS client. With an endpoint override (LocalStack, moto) requests go to that endpoint,
 * not to the host inside queue URLs (LocalStack's need public DNS to resolve).
 */
export function newSqsClient(): SQSClient {
  return new SQSClient(process.env.AWS_ENDPOINT_URL ? { useQueueUrlAsEndpoint: false } : {});
}

let shared: SQSClient | undefined;
/** The process's SQS client (traced where tracing is on: sent messages carry the trace on). */
export function sqsClient(): SQSClient {
  shared ??= captureClient(newSqsClient());
  return shared;
}

const urls = new Map<string, Promise<string>>();
/** A queue's URL from its name, looked up once. Accepts a URL as is. */
export function queueUrl(client: SQSClient, queue: string): Promise<string> {
  if (/^https?:\/\//.test(queue)) return Promise.resolve(queue);
  let url = urls.get(queue);
  if (!url) {
    url = client.send(new GetQueueUrlCommand({ QueueName: queue })).then((out) => out.QueueUrl!);
    url.catch(() => urls.delete(queue));
    urls.set(queue, url);
  }
  return url;
}

/** Sends to SQS in batches of ten, failing loudly if any entry was refused. */
export class SqsQueueSender implements QueueSender {
  constructor(private readonly client: SQSClient = sqsClient()) {}

  async send(queue: string, bodies: unknown[], options: SendOptions = {}): Promise<void> {
    const url = await queueUrl(this.client, queue);
    const delay = options.delaySeconds && Math.min(MAX_DELAY_SECONDS, Math.round(options.delaySeconds));
    const correlation = correlationId();
    for (let i = 0; i < bodies.length; i += 10) {
      const entries = bodies.slice(i, i + 10).map((body, j) => ({
        Id: String(j),
        MessageBody: JSON.stringify(body),
        ...(delay && { DelaySeconds: delay }),
        ...(correlation && {
          MessageAttributes: { [CORRELATION_ATTRIBUTE]: { DataType: 'String', StringValue: correlation } },
        }),
      }));
      const out = await this.client.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
      if (out.Failed?.length)
        throw new Error(`SQS refused ${out.Failed.length} messages: ${out.Failed[0]?.Message}`);
    }
  }
}

function toRecord(message: Message, queueArn: string): SQSRecord {
  const a = message.Attributes ?? {};
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? '1',
      SentTimestamp: a.SentTimestamp ?? String(Date.now()),
      SenderId: a.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: toRecordAttributes(message),
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: process.env.AWS_REGION ?? 'us-east-1',
  };
}

/** A received message's string attributes, spelled as Lambda's SQS event spells them. */
function toRecordAttributes(message: Message): SQSMessageAttributes {
  return Object.fromEntries(
    Object.entries(message.MessageAttributes ?? {})
      .filter(([, a]) => a.StringValue !== undefined)
      .map(([name, a]) => [
        name,
        {
          stringValue: a.StringValue,
          dataType: a.DataType ?? 'String',
          stringListValues: [],
          binaryListValues: [],
        },
      ]),
  );
}

/**
 * Hides messages for `seconds` more from now, ten at a time (SQS's batch limit). Entries SQS
 * refuses (a message already deleted, an expired receipt) are left alone: their worker is done
 * with them or has lost them anyway.
 */
export async function extendVisibility(
  client: SQSClient,
  url: string,
  receiptHandles: string[],
  seconds: number,
): Promise<void> {
  for (let i = 0; i < receiptHandles.length; i += 10) {
    await client.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url,
        Entries: receiptHandles
          .slice(i, i + 10)
          .map((handle, j) => ({ Id: String(j), ReceiptHandle: handle, VisibilityTimeout: seconds })),
      }),
    );
  }
}

/**
 * Reads an SQS queue the way a Lambda event source mapping does (long polling, batch deletes).
 * `visibilitySeconds` is the queue's visibility timeout: while a batch runs its messages are
 * hidden again for that long every third of it.
 */
export class SqsQueueSource implements QueueSource {
  constructor(
    readonly queue: string,
    private readonly client: SQSClient = sqsClient(),
    private readonly visibilitySeconds = 0,
    private readonly waitSeconds = 1,
  ) {}

  async receive(max: number): Promise<SQSRecord[]> {
    const url = await queueUrl(this.client, this.queue);
    const out = await this.client.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MaxNumberOfMessages: Math.min(max, 10),
        WaitTimeSeconds: this.waitSeconds,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    const arn = `arn:aws:sqs:${process.env.AWS_REGION ?? 'us-east-1'}:000000000000:${this.queue}`;
    return (out.Messages ?? []).map((m) => toRecord(m, arn));
  }

  async complete(records: SQSRecord[]): Promise<void> {
    if (records.length === 0) return;
    const url = await queueUrl(this.client, this.queue);
    await this.client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: records.map((r, i) => ({ Id: String(i), ReceiptHandle: r.receiptHandle })),
      }),
    );
  }

  async keepVisible(records: SQSRecord[]): Promise<void> {
    if (records.length === 0 || this.visibilitySeconds === 0) return;
    const url = await queueUrl(this.client, this.queue);
    await extendVisibility(
      this.client,
      url,
      records.map((r) => r.receiptHandle),
      this.visibilitySeconds,
    );
  }

  heartbeatIntervalMs(): number {
    return (this.visibilitySeconds * 1000) / 3;
  }

  // Like Lambda: a failed message stays invisible until its visibility timeout, then returns;
  // SQS's redrive policy moves it to the dead-letter queue after maxReceiveCount receives.
  async fail(): Promise<void> {}
}
