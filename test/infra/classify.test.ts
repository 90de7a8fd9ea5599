import { Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { buildStack, inspect, type Resource } from './stack.ts';

const { stack, template } = buildStack({ logLevel: 'DEBUG' });
const { resources, ofType, statementsOf, grantsOf } = inspect(template);
const idOf = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

const classifyId = idOf(stack.queues.classify);
const deadLettersId = idOf(stack.queues.classifyDeadLetters);
const tasksId = idOf(stack.queues.tasks);
const worker = resources[idOf(stack.classify.worker)]!;
const deadLetterWorker = resources[idOf(stack.classify.deadLetterWorker)]!;
const keyArn = stack.resolve(stack.llm.openaiApiKey.secretArn);
const databaseSecretArn = stack.resolve(stack.database.secret.secretArn);

/** The event source mapping reading a queue, by the queue's logical id. */
function mappingOf(queueId: string): Resource {
  const found = ofType('AWS::Lambda::EventSourceMapping').filter(
    ([, m]) => m.Properties.EventSourceArn['Fn::GetAtt'][0] === queueId,
  );
  expect(found).toHaveLength(1);
  return found[0]![1];
}

const resourcesOf = (fn: Resource, action: string) =>
  grantsOf(fn, action).flatMap((s) => [s.Resource].flat());

describe('classify worker', () => {
  // Its entry, functions/workers/classify.ts, is bundled and loaded for real in bundle.test.ts.
  it('runs for up to 15 minutes with 1 GB', () => {
    expect(worker.Properties.Handler).toBe('index.handler');
    expect(worker.Properties.Timeout).toBe(15 * 60);
    expect(worker.Properties.MemorySize).toBe(1024);
  });

  it('consumes the classify queue in batches of 2, at most 5 at a time, reporting failed messages', () => {
    expect(mappingOf(classifyId).Properties).toMatchObject({
      FunctionName: { Ref: idOf(stack.classify.worker) },
      BatchSize: 2,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
    });
  });

  it('hides a received message for six times its 15 minutes', () => {
    expect(resources[classifyId]!.Properties.VisibilityTimeout).toBe(6 * 15 * 60);
  });

  it('gets the queue, database and LLM settings, with its own queue’s visibility timeout', () => {
    expect(worker.Properties.Environment.Variables).toMatchObject({
      PLATFORM: 'aws',
      CLASSIFY_QUEUE: { 'Fn::GetAtt': [classifyId, 'QueueName'] },
      CLASSIFY_QUEUE_URL: { Ref: classifyId },
      QUEUE_MAX_RECEIVE_COUNT: '3',
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: String(6 * 15 * 60),
      DATABASE_SECRET_ARN: databaseSecretArn,
      DATABASE_PROXY_ENDPOINT: stack.resolve(stack.database.proxy.endpoint),
      OPENAI_API_KEY_SECRET_ARN: keyArn,
      LLM_CONCURRENCY: '4',
      LOG_LEVEL: 'DEBUG',
    });
    // Unset settings are left to lib/ports/llm/index.ts's defaults.
    for (const name of [
      'OPENAI_BASE_URL',
      'OPENAI_MODELS',
      'BEDROCK_MODELS',
      'CLASSIFIER_DEFAULT_PROVIDER',
      'CLASSIFIER_DEFAULT_MODEL',
      'SECRET_KEY_ARN',
    ]) {
      expect(worker.Properties.Environment.Variables[name], name).toBeUndefined();
    }
  });

  it('may consume and send to its queue, read the database and LLM key secrets, and nothing else', () => {
    // And nudge the events dispatcher on the task queue (a job's end is an event).
    expect(resourcesOf(worker, 'sqs:SendMessage')).toEqual([arnOf(classifyId), arnOf(tasksId)]);
    for (const action of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility']) {
      expect(resourcesOf(worker, action), action).toEqual([arnOf(classifyId)]);
    }
    expect(resourcesOf(worker, 'secretsmanager:GetSecretValue').sort()).toEqual(
      [databaseSecretArn, keyArn].sort(),
    );
    const actions = statementsOf(worker).flatMap((s) => [s.Action].flat());
    expect(actions.filter((a) => a.startsWith('s3:'))).toEqual([]);
    // No Bedrock unless Bedrock models are configured.
    expect(actions.filter((a) => a.startsWith('bedrock:'))).toEqual([]);
  });

  it('runs after migrations, which create its tables', () => {
    expect(template.toJSON().Resources[idOf(stack.classify.worker)].DependsOn).toContainEqual(
      expect.stringMatching(/^MigrationsTrigger/),
    );
  });
});

describe('classify dead-letter worker', () => {
  it('consumes the dead-letter queue in batches of 10, reporting failed messages', () => {
    expect(mappingOf(deadLettersId).Properties).toMatchObject({
      FunctionName: { Ref: idOf(stack.classify.deadLetterWorker) },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 2 },
    });
    expect(deadLetterWorker.Properties.Handler).toBe('index.handler');
  });

  it('reaches the database only: no bucket, no LLM, no sending but the events nudge', () => {
    const actions = statementsOf(deadLetterWorker).flatMap((s) => [s.Action].flat());
    expect(actions.filter((a) => a.startsWith('s3:') || a.startsWith('bedrock:'))).toEqual([]);
    expect(resourcesOf(deadLetterWorker, 'sqs:SendMessage')).toEqual([arnOf(tasksId)]);
    expect(resourcesOf(deadLetterWorker, 'sqs:ReceiveMessage')).toEqual([arnOf(deadLettersId)]);
    expect(resourcesOf(deadLetterWorker, 'secretsmanager:GetSecretValue')).toEqual([databaseSecretArn]);
    const env = deadLetterWorker.Properties.Environment.Variables;
    expect(env.OPENAI_API_KEY_SECRET_ARN).toBeUndefined();
    // Names still set, so lib/config.ts never falls back on its local defaults.
    expect(env).toMatchObject({ CLASSIFY_QUEUE: { 'Fn::GetAtt': [classifyId, 'QueueName'] } });
  });
});

describe('LLM configuration', () => {
  it('keeps the API key in a secret created with a placeholder, named in a stack output', () => {
    template.hasResourceProperties('AWS::SecretsManager::Secret', {
      GenerateSecretString: {
        GenerateStringKey: 'OPENAI_API_KEY',
        SecretStringTemplate: JSON.stringify({ placeholder: 'replace this secret with the API key' }),
      },
    });
    template.hasOutput('OpenAiApiKeySecretArn', { Value: keyArn });
    template.hasOutput('ClassifyQueueName', { Value: { 'Fn::GetAtt': [classifyId, 'QueueName'] } });
  });

  it('passes the configured providers to the worker and the API', () => {
    const configured = buildStack({
      openaiBaseUrl: 'http://llm.internal:11434/v1',
      openaiModels: ['llama3.2', 'qwen3'],
      bedrockModels: ['amazon.nova-lite-v1:0'],
      classifierDefaultProvider: 'bedrock',
      classifierDefaultModel: 'amazon.nova-pro-v1:0',
      llmConcurrency: 2,
    });
    // Every stack's resources: the API's functions are in its areas' nested stacks.
    const { resources: r } = inspect(configured.flat);
    const expected = {
      OPENAI_BASE_URL: 'http://llm.internal:11434/v1',
      OPENAI_MODELS: 'llama3.2,qwen3',
      BEDROCK_MODELS: 'amazon.nova-lite-v1:0',
      CLASSIFIER_DEFAULT_PROVIDER: 'bedrock',
      CLASSIFIER_DEFAULT_MODEL: 'amazon.nova-pro-v1:0',
      LLM_CONCURRENCY: '2',
    };
    const id = (c: { node: { defaultChild?: unknown } }) =>
      Stack.of(c as never).getLogicalId(c.node.defaultChild as never);
    expect(r[id(configured.stack.classify.worker)]!.Properties.Environment.Variables).toMatchObject(expected);
    for (const fn of configured.stack.api.functions.values()) {
      expect(r[id(fn)]!.Properties.Environment.Variables).toMatchObject(expected);
    }
  });

  it('lets only the classify worker invoke Bedrock, and only the configured and default models', () => {
    const configured = buildStack({
      bedrockModels: ['amazon.nova-lite-v1:0', 'anthropic.claude-3-haiku-20240307-v1:0'],
      classifierDefaultProvider: 'bedrock',
      classifierDefaultModel: 'amazon.nova-pro-v1:0',
    });
    const c = inspect(configured.template);
    const id = (x: { node: { defaultChild?: unknown } }) =>
      configured.stack.getLogicalId(x.node.defaultChild as never);
    const model = (name: string) => ({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':bedrock:',
          { Ref: 'AWS::Region' },
          `::foundation-model/${name}`,
        ],
      ],
    });
    const granted = c
      .grantsOf(c.resources[id(configured.stack.classify.worker)]!, 'bedrock:InvokeModel')
      .flatMap((s) => [s.Resource].flat());
    // In any order: CDK sorts a minimized statement's resources.
    expect(granted).toHaveLength(3);
    expect(granted).toEqual(
      expect.arrayContaining([
        model('amazon.nova-pro-v1:0'),
        model('amazon.nova-lite-v1:0'),
        model('anthropic.claude-3-haiku-20240307-v1:0'),
      ]),
    );
    const invokers = c
      .ofType('AWS::IAM::Policy')
      .filter(([, p]) =>
        p.Properties.PolicyDocument.Statement.some((s: { Action: string | string[] }) =>
          [s.Action].flat().some((a) => a.startsWith('bedrock:')),
        ),
      );
    expect(invokers.map(([policyId]) => policyId)).toEqual([
      expect.stringMatching(/^ClassifyWorkerServiceRoleDefaultPolicy/),
    ]);
  });

  it('gives Bedrock batch inference a service role on the bucket’s batch prefix, which only the classify worker passes', () => {
    const configured = buildStack({ bedrockModels: ['amazon.nova-lite-v1:0'] });
    const { stack: s, template: t } = configured;
    const c = inspect(t);
    const id = (x: { node: { defaultChild?: unknown } }) => s.getLogicalId(x.node.defaultChild as never);
    const role = s.llm.bedrockBatchRole!;
    const roleId = id(role);
    const bucketId = id(s.storage.uploads);
    const objects = (folder: string) => ({
      'Fn::Join': ['', [{ 'Fn::GetAtt': [bucketId, 'Arn'] }, `/bedrock-batch/${folder}/*`]],
    });
    // Bedrock assumes it for this account's jobs only.
    const trust = c.resources[roleId]!.Properties.AssumeRolePolicyDocument.Statement;
    expect(trust).toEqual([
      expect.objectContaining({
        Action: 'sts:AssumeRole',
        Principal: { Service: 'bedrock.amazonaws.com' },
        Condition: {
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          ArnLike: { 'aws:SourceArn': expect.anything() },
        },
      }),
    ]);
    // It reads inputs and writes outputs, nothing else of the bucket.
    const roleStatements = c
      .ofType('AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    expect(roleStatements).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Action: 's3:GetObject', Resource: objects('input') }),
        expect.objectContaining({ Action: 's3:PutObject', Resource: objects('output') }),
        expect.objectContaining({
          Action: 's3:ListBucket',
          Condition: { StringLike: { 's3:prefix': ['bedrock-batch/*'] } },
        }),
      ]),
    );
    expect(roleStatements).toHaveLength(3);

    // The classify worker creates, polls and stops jobs, passing the role to Bedrock only, and
    // writes inputs and reads outputs.
    const w = c.resources[id(s.classify.worker)]!;
    const resourcesOfAction = (action: string) => c.grantsOf(w, action).flatMap((g) => [g.Resource].flat());
    expect(resourcesOfAction('bedrock:CreateModelInvocationJob')).toHaveLength(2);
    for (const action of ['bedrock:GetModelInvocationJob', 'bedrock:StopModelInvocationJob'])
      expect(resourcesOfAction(action), action).toHaveLength(1);
    expect(c.grantsOf(w, 'iam:PassRole')).toEqual([
      expect.objectContaining({
        Resource: { 'Fn::GetAtt': [roleId, 'Arn'] },
        Condition: { StringEquals: { 'iam:PassedToService': 'bedrock.amazonaws.com' } },
      }),
    ]);
    expect(resourcesOfAction('s3:PutObject')).toEqual([objects('input')]);
    expect(resourcesOfAction('s3:GetObject')).toEqual([objects('output')]);
    expect(w.Properties.Environment.Variables).toMatchObject({
      BEDROCK_BATCH_ROLE_ARN: { 'Fn::GetAtt': [roleId, 'Arn'] },
      BEDROCK_BATCH_S3_URI: { 'Fn::Join': ['', ['s3://', { Ref: bucketId }, '/bedrock-batch/']] },
    });
    // The batch files expire.
    expect(c.resources[bucketId]!.Properties.LifecycleConfiguration.Rules).toContainEqual(
      expect.objectContaining({ Prefix: 'bedrock-batch/', ExpirationInDays: 14, Status: 'Enabled' }),
    );
    // Only the classify worker may pass it; without Bedrock models there is no role at all.
    const passers = c
      .ofType('AWS::IAM::Policy')
      .filter(([, p]) =>
        p.Properties.PolicyDocument.Statement.some(
          (st: { Action: string | string[] }) =>
            [st.Action].flat().includes('iam:PassRole') && JSON.stringify(st).includes(roleId),
        ),
      );
    expect(passers.map(([policyId]) => policyId)).toEqual([
      expect.stringMatching(/^ClassifyWorkerServiceRoleDefaultPolicy/),
    ]);
    expect(stack.llm.bedrockBatchRole).toBeUndefined();
    expect(worker.Properties.Environment.Variables.BEDROCK_BATCH_ROLE_ARN).toBeUndefined();
  });

  it('refuses Bedrock as the default provider without Bedrock models', () => {
    expect(() => buildStack({ classifierDefaultProvider: 'bedrock' })).toThrow(/bedrockModels is empty/);
  });
});
