import { readFileSync } from 'node:fs';
import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { DocsiftStack } from '#infra/docsift-stack.ts';
import { deadLetterQueueOf } from '#lib/ports/queue/queue.ts';
import { VISIBILITY_WINDOW_SECONDS } from '#lib/workers/visibility.ts';
import { buildStack, cdkJsonContext, inspect, type Resource } from './stack.ts';

const { stack, template } = buildStack({ logLevel: 'DEBUG' });
const { resources, ofType, grantsOf } = inspect(template);
const idOf = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);

const ingestId = idOf(stack.queues.ingest);
const deadLettersId = idOf(stack.queues.ingestDeadLetters);
const ingest = resources[ingestId]!;
const worker = resources[idOf(stack.ingest.worker)]!;
const deadLetterWorker = resources[idOf(stack.ingest.deadLetterWorker)]!;
const queueArn = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

/** The event source mapping reading a queue, by the queue's logical id. */
function mappingOf(queueId: string): Resource {
  const found = ofType('AWS::Lambda::EventSourceMapping').filter(
    ([, m]) => m.Properties.EventSourceArn['Fn::GetAtt'][0] === queueId,
  );
  expect(found).toHaveLength(1);
  return found[0]![1];
}

const pairs = {
  ingest: { queueId: ingestId, deadLettersId },
  classify: {
    queueId: idOf(stack.queues.classify),
    deadLettersId: idOf(stack.queues.classifyDeadLetters),
  },
  tasks: {
    queueId: idOf(stack.queues.tasks),
    deadLettersId: idOf(stack.queues.tasksDeadLetters),
  },
};

for (const [name, { queueId, deadLettersId: dlqId }] of Object.entries(pairs)) {
  const queue = resources[queueId]!;
  const dlq = resources[dlqId]!;

  describe(`${name} queues`, () => {
    it('move a message to the dead-letter queue after 3 deliveries', () => {
      expect(queue.Properties.RedrivePolicy).toEqual({
        deadLetterTargetArn: queueArn(dlqId),
        maxReceiveCount: 3,
      });
    });

    it(`are named by the app convention: <stack>-${name} and its <name>-dlq`, () => {
      expect(queue.Properties.QueueName).toBe(`Docsift-${name}`);
      expect(dlq.Properties.QueueName).toBe(deadLetterQueueOf(`Docsift-${name}`));
    });

    it('are encrypted with SQS-managed keys and refuse requests without TLS', () => {
      for (const id of [queueId, dlqId]) {
        expect(resources[id]!.Properties.SqsManagedSseEnabled).toBe(true);
        expect(resources[id]!.Properties.KmsMasterKeyId).toBeUndefined();
        const [, policy] = ofType('AWS::SQS::QueuePolicy').find(
          ([, p]) => p.Properties.Queues[0].Ref === id,
        )!;
        expect(policy.Properties.PolicyDocument.Statement).toContainEqual({
          Action: 'sqs:*',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          Effect: 'Deny',
          Principal: { AWS: '*' },
          Resource: queueArn(id),
        });
      }
    });

    it('keep dead letters 14 days, longer than the work queue keeps messages', () => {
      expect(dlq.Properties.MessageRetentionPeriod).toBe(14 * 24 * 3600);
      expect(queue.Properties.MessageRetentionPeriod).toBeLessThan(dlq.Properties.MessageRetentionPeriod);
    });

    it('each have exactly one consumer', () => {
      mappingOf(queueId);
      mappingOf(dlqId);
    });
  });
}

describe('all queues', () => {
  it('hide a received message for at least six times its consumer’s timeout', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    expect(mappings).toHaveLength(6);
    for (const [, mapping] of mappings) {
      const queue = resources[mapping.Properties.EventSourceArn['Fn::GetAtt'][0]]!;
      const fn = resources[mapping.Properties.FunctionName.Ref]!;
      expect(fn.Properties.Timeout).toBeGreaterThan(0);
      expect(queue.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * fn.Properties.Timeout);
    }
  });

  it('are consumed by workers that keep their messages hidden a short window at a time while they work', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping');
    for (const [, mapping] of mappings) {
      const queueId = mapping.Properties.EventSourceArn['Fn::GetAtt'][0];
      const fn = resources[mapping.Properties.FunctionName.Ref]!;
      // The heartbeat (lib/workers/visibility.ts) needs the grant, and a window shorter than the
      // queue's own timeout, or a crashed worker's messages would wait as long as before.
      const granted = grantsOf(fn, 'sqs:ChangeMessageVisibility').flatMap((g) => [g.Resource].flat());
      expect(granted).toContainEqual(queueArn(queueId));
      expect(VISIBILITY_WINDOW_SECONDS).toBeLessThan(resources[queueId]!.Properties.VisibilityTimeout);
    }
    for (const entry of [
      'ingest',
      'ingest-dead-letters',
      'classify',
      'classify-dead-letters',
      'tasks',
      'tasks-dead-letters',
    ]) {
      const source = readFileSync(`functions/workers/${entry}.ts`, 'utf8');
      expect(source, entry).toMatch(/export const handler = (withDbRole\('[a-z-]+', )?keepingVisible\(/);
    }
  });

  it('refuse a stack name that would make a queue name longer than SQS allows', () => {
    const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
    // 80 characters with "-classify-dlq" appended: the longest name fails, not only ingest's.
    expect(() => new DocsiftStack(app, 'S'.repeat(80 - '-classify-dlq'.length + 1))).toThrow(
      /-classify-dlq is longer than SQS's 80 characters/,
    );
  });
});

describe('ingest worker', () => {
  // Its entry, functions/workers/ingest.ts, is bundled and loaded for real in bundle.test.ts.
  it('runs for up to 10 minutes with 2 GB, for PDFs of up to 100 MB', () => {
    expect(worker.Properties.Handler).toBe('index.handler');
    expect(worker.Properties.Timeout).toBe(600);
    expect(worker.Properties.MemorySize).toBe(2048);
  });

  it('consumes the ingest queue in batches of 5, at most 10 at a time, reporting failed messages', () => {
    const mapping = mappingOf(ingestId);
    expect(mapping.Properties).toMatchObject({
      FunctionName: { Ref: idOf(stack.ingest.worker) },
      BatchSize: 5,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 10 },
    });
  });

  it('gets the bucket, queue and database settings, and the same maxReceiveCount as the queue', () => {
    expect(worker.Properties.Environment.Variables).toMatchObject({
      PLATFORM: 'aws',
      UPLOADS_BUCKET: { Ref: idOf(stack.storage.uploads) },
      INGEST_QUEUE: { 'Fn::GetAtt': [ingestId, 'QueueName'] },
      INGEST_QUEUE_URL: { Ref: ingestId },
      QUEUE_MAX_RECEIVE_COUNT: String(ingest.Properties.RedrivePolicy.maxReceiveCount),
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: String(ingest.Properties.VisibilityTimeout),
      MAX_UPLOAD_BYTES: String(100 * 1024 * 1024),
      DATABASE_SECRET_ARN: stack.resolve(stack.database.secret.secretArn),
      DATABASE_PROXY_ENDPOINT: stack.resolve(stack.database.proxy.endpoint),
      LOG_LEVEL: 'DEBUG',
    });
    // No JWT key: the worker signs nothing.
    expect(worker.Properties.Environment.Variables.SECRET_KEY_ARN).toBeUndefined();
  });

  it('may read, copy and delete uploads, write bundle exports, send to and consume its queue, and read the database secret', () => {
    const bucketArn = queueArn(idOf(stack.storage.uploads));
    const uploads = { 'Fn::Join': ['', [bucketArn, '/workspaces/*']] };
    const exports = { 'Fn::Join': ['', [bucketArn, '/exports/*']] };
    const resourcesOf = (action: string) => grantsOf(worker, action).flatMap((s) => [s.Resource].flat());
    expect(resourcesOf('s3:GetObject')).toEqual([uploads, exports]);
    expect(resourcesOf('s3:DeleteObject')).toEqual([uploads]);
    expect(resourcesOf('s3:ListBucket')).toEqual([bucketArn]);
    expect(resourcesOf('s3:PutObject')).toEqual([uploads, exports]);
    expect(resourcesOf('s3:AbortMultipartUpload')).toEqual([exports]);
    // And the events nudge to the task queue (a datasource's or an import's end is an event).
    expect(resourcesOf('sqs:SendMessage')).toEqual([queueArn(ingestId), queueArn(idOf(stack.queues.tasks))]);
    for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility']) {
      expect(resourcesOf(action), action).toEqual([queueArn(ingestId)]);
    }
    expect(resourcesOf('secretsmanager:GetSecretValue')).toEqual([
      stack.resolve(stack.database.secret.secretArn),
    ]);
  });

  it('reaches the internet for scraping: its subnets route through the NAT gateway', () => {
    const subnetIds: Array<{ Ref: string }> = worker.Properties.VpcConfig.SubnetIds;
    expect(subnetIds).toHaveLength(2);
    for (const { Ref: subnetId } of subnetIds) {
      expect(subnetId).toMatch(/functionsSubnet/);
      const [, association] = ofType('AWS::EC2::SubnetRouteTableAssociation').find(
        ([, a]) => a.Properties.SubnetId.Ref === subnetId,
      )!;
      const routeTableId = association.Properties.RouteTableId.Ref;
      const defaultRoutes = ofType('AWS::EC2::Route').filter(
        ([, r]) =>
          r.Properties.RouteTableId.Ref === routeTableId && r.Properties.DestinationCidrBlock === '0.0.0.0/0',
      );
      expect(defaultRoutes).toHaveLength(1);
      const natId = defaultRoutes[0]![1].Properties.NatGatewayId.Ref;
      expect(resources[natId]!.Type).toBe('AWS::EC2::NatGateway');
    }
  });
});

describe('ingest dead-letter worker', () => {
  it('consumes the dead-letter queue in batches of 10, reporting failed messages', () => {
    expect(mappingOf(deadLettersId).Properties).toMatchObject({
      FunctionName: { Ref: idOf(stack.ingest.deadLetterWorker) },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    expect(deadLetterWorker.Properties.Handler).toBe('index.handler');
  });

  it('reaches the database only: no bucket access, no sending but the events nudge', () => {
    const actions = (fn: Resource) =>
      inspect(template)
        .statementsOf(fn)
        .flatMap((s) => [s.Action].flat());
    expect(actions(deadLetterWorker).filter((a) => a.startsWith('s3:'))).toEqual([]);
    expect(grantsOf(deadLetterWorker, 'sqs:SendMessage').flatMap((s) => [s.Resource].flat())).toEqual([
      queueArn(idOf(stack.queues.tasks)),
    ]);
    expect(grantsOf(deadLetterWorker, 'sqs:ReceiveMessage').flatMap((s) => [s.Resource].flat())).toEqual([
      queueArn(deadLettersId),
    ]);
    expect(
      grantsOf(deadLetterWorker, 'secretsmanager:GetSecretValue').flatMap((s) => [s.Resource].flat()),
    ).toEqual([stack.resolve(stack.database.secret.secretArn)]);
    // Names still set, so lib/config.ts never falls back on its local defaults.
    expect(deadLetterWorker.Properties.Environment.Variables).toMatchObject({
      INGEST_QUEUE: { 'Fn::GetAtt': [ingestId, 'QueueName'] },
      QUEUE_MAX_RECEIVE_COUNT: '3',
    });
  });
});
