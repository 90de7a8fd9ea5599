import { Stack } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { areaOf, TASK_AREA } from '#infra/constructs/api.ts';
import { MAINTENANCE_SCHEDULE } from '#infra/constructs/scheduler.ts';
import { routeId } from '#infra/naming.ts';
import { routes } from '#lib/http/routes.ts';
import { TaskMessage } from '#lib/schedule/messages.ts';
import { buildStack, inspect, type Resource, type Statement } from './stack.ts';

const { stack, template, flat } = buildStack({ emailsFrom: 'noreply@example.com' });
// Every stack's resources: the route functions are in the API areas' nested stacks.
const { resources, ofType, statementsOf, grantsOf } = inspect(flat);
const idOf = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });

const queueId = idOf(stack.queues.tasks);
const deadLettersId = idOf(stack.queues.tasksDeadLetters);
const schedulerRoleId = idOf(stack.scheduler.role);
const schedulerRoleArn = arnOf(schedulerRoleId);
const worker = resources[idOf(stack.scheduler.worker)]!;
const deadLetterWorker = resources[idOf(stack.scheduler.deadLetterWorker)]!;

/** `arn:<partition>:scheduler:<region>:<account>:<rest>`, as CDK's formatArn renders it. */
const schedulerArn = (rest: string) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':scheduler:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      `:${rest}`,
    ],
  ],
});
const groupSchedules = schedulerArn('schedule/Docsift/*');

/** The statements granting any scheduler action. */
const scheduleGrants = (statements: Statement[]) =>
  statements.filter((s) => [s.Action].flat().some((a) => a.startsWith('scheduler:')));
const passRoleGrants = (statements: Statement[]) =>
  statements.filter((s) => [s.Action].flat().includes('iam:PassRole'));

/** The route functions of some areas, by handler, wherever their nested stack is. */
const routeFunctions = (area: (a: string) => boolean) =>
  routes
    .filter((r) => area(areaOf(r)))
    .map((r) => {
      const fn = stack.api.functions.get(routeId(r))!;
      return [r.handler, resources[Stack.of(fn).getLogicalId(fn.node.defaultChild as never)]!] as const;
    });

describe('schedule group', () => {
  it("is the stack's, and named like it: the task routes get its name as TASK_SCHEDULE_GROUP", () => {
    template.resourceCountIs('AWS::Scheduler::ScheduleGroup', 1);
    template.hasResourceProperties('AWS::Scheduler::ScheduleGroup', { Name: 'Docsift' });
    for (const [handler, fn] of routeFunctions((a) => a === TASK_AREA)) {
      expect(fn.Properties.Environment.Variables, handler).toMatchObject({
        TASK_SCHEDULE_GROUP: 'Docsift',
        TASK_QUEUE: { 'Fn::GetAtt': [queueId, 'QueueName'] },
        TASK_QUEUE_ARN: arnOf(queueId),
        TASK_SCHEDULER_ROLE_ARN: schedulerRoleArn,
      });
    }
    template.hasOutput('TaskScheduleGroupName', { Value: 'Docsift' });
    template.hasOutput('TaskQueueName', { Value: { 'Fn::GetAtt': [queueId, 'QueueName'] } });
  });
});

describe('task queue', () => {
  it('gives a message up to its dead-letter queue after 3 deliveries, which lib/platform.ts finds as <arn>-dlq', () => {
    expect(resources[queueId]!.Properties.RedrivePolicy).toEqual({
      deadLetterTargetArn: arnOf(deadLettersId),
      maxReceiveCount: 3,
    });
    expect(resources[queueId]!.Properties.QueueName).toBe('Docsift-tasks');
    expect(resources[deadLettersId]!.Properties.QueueName).toBe('Docsift-tasks-dlq');
  });
});

describe('Scheduler execution role', () => {
  const role = resources[schedulerRoleId]!;

  it('may be assumed by Scheduler only, for schedules of this account and group', () => {
    expect(role.Properties.AssumeRolePolicyDocument.Statement).toEqual([
      {
        Action: 'sts:AssumeRole',
        Effect: 'Allow',
        Principal: { Service: 'scheduler.amazonaws.com' },
        Condition: {
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
          ArnLike: { 'aws:SourceArn': schedulerArn('schedule-group/Docsift') },
        },
      },
    ]);
  });

  it('may only send messages to the task queue and its dead-letter queue', () => {
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    expect(role.Properties.Policies).toBeUndefined();
    const statements = statementsOf({ Properties: { Role: schedulerRoleArn } } as unknown as Resource);
    expect(statements).toEqual([
      {
        Action: 'sqs:SendMessage',
        Effect: 'Allow',
        Resource: [arnOf(queueId), arnOf(deadLettersId)],
      },
    ]);
  });
});

describe('maintenance schedule', () => {
  it('sends {"kind":"maintenance"} to the task queue every 5 minutes, with retries and a dead-letter queue', () => {
    const schedules = ofType('AWS::Scheduler::Schedule');
    expect(schedules).toHaveLength(1);
    const [, schedule] = schedules[0]!;
    expect(MAINTENANCE_SCHEDULE).toBe('rate(5 minutes)');
    expect(schedule.Properties).toMatchObject({
      GroupName: { Ref: stack.getLogicalId(stack.scheduler.group) },
      ScheduleExpression: 'rate(5 minutes)',
      FlexibleTimeWindow: { Mode: 'OFF' },
      State: 'ENABLED',
      Target: {
        Arn: arnOf(queueId),
        RoleArn: schedulerRoleArn,
        RetryPolicy: { MaximumEventAgeInSeconds: 300, MaximumRetryAttempts: 5 },
        DeadLetterConfig: { Arn: arnOf(deadLettersId) },
      },
    });
    // The dispatcher reads it as the maintenance message.
    expect(TaskMessage.parse(JSON.parse(schedule.Properties.Target.Input))).toEqual({ kind: 'maintenance' });
  });
});

describe('task routes', () => {
  const taskFunctions = routeFunctions((a) => a === TASK_AREA);

  it('are the seven recurring-task routes, on a role of their own', () => {
    expect(taskFunctions).toHaveLength(7);
    const roles = new Set(taskFunctions.map(([, fn]) => fn.Properties.Role['Fn::GetAtt'][0]));
    expect([...roles]).toEqual([idOf(stack.api.taskFunctionRole)]);
  });

  it("may create, update, delete and read the group's schedules, pass the Scheduler role to Scheduler only, and send to the task queue", () => {
    for (const [handler, fn] of taskFunctions) {
      const statements = statementsOf(fn);
      expect(scheduleGrants(statements), handler).toEqual([
        {
          Action: [
            'scheduler:CreateSchedule',
            'scheduler:DeleteSchedule',
            'scheduler:GetSchedule',
            'scheduler:UpdateSchedule',
          ],
          Effect: 'Allow',
          Resource: groupSchedules,
        },
      ]);
      expect(passRoleGrants(statements), handler).toEqual([
        {
          Action: 'iam:PassRole',
          Effect: 'Allow',
          Resource: schedulerRoleArn,
          Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
        },
      ]);
      expect(
        grantsOf(fn, 'sqs:SendMessage').flatMap((s) => [s.Resource].flat()),
        handler,
      ).toEqual([arnOf(queueId)]);
      // Nothing the other routes need and these do not: no bucket, no mail, no LLM key.
      const actions = statements.flatMap((s) => [s.Action].flat());
      expect(
        actions.filter((a) => /^(s3|ses|bedrock):/.test(a)),
        handler,
      ).toEqual([]);
      expect(
        grantsOf(fn, 'secretsmanager:GetSecretValue').flatMap((s) => [s.Resource].flat()),
        handler,
      ).toEqual(
        expect.arrayContaining([
          stack.resolve(stack.secrets.jwtSigningKey.secretArn),
          stack.resolve(stack.database.secret.secretArn),
        ]),
      );
      expect(grantsOf(fn, 'secretsmanager:GetSecretValue').flatMap((s) => [s.Resource].flat())).toHaveLength(
        2,
      );
    }
  });
});

describe('no other function', () => {
  it('may create or delete schedules, and only the task routes and the two task workers may touch them or pass the role', () => {
    const managers = new Set([
      idOf(stack.api.taskFunctionRole),
      ...[worker, deadLetterWorker].map((fn) => fn.Properties.Role['Fn::GetAtt'][0] as string),
    ]);
    const policies = ofType('AWS::IAM::Policy');
    for (const [id, policy] of policies) {
      const statements: Statement[] = policy.Properties.PolicyDocument.Statement;
      const roles = policy.Properties.Roles.map((r: { Ref: string }) => r.Ref);
      if (roles.some((r: string) => managers.has(r))) continue;
      expect(scheduleGrants(statements), id).toEqual([]);
      expect(passRoleGrants(statements), id).toEqual([]);
    }
    // And the other route functions' role in particular.
    for (const [handler, fn] of routeFunctions((a) => a !== TASK_AREA)) {
      expect(scheduleGrants(statementsOf(fn)), handler).toEqual([]);
      expect(passRoleGrants(statementsOf(fn)), handler).toEqual([]);
      // They may send to the task queue (the events nudge, test/infra/events.test.ts), not more.
    }
    // No wildcard anywhere: every scheduler grant names the group's schedules.
    for (const [, policy] of policies) {
      for (const s of scheduleGrants(policy.Properties.PolicyDocument.Statement)) {
        expect(s.Resource).toEqual(groupSchedules);
      }
    }
  });
});

describe('dispatcher', () => {
  it('consumes the task queue one firing at a time, at most 5 at once, reporting failed messages', () => {
    const mappings = ofType('AWS::Lambda::EventSourceMapping').filter(
      ([, m]) => m.Properties.EventSourceArn['Fn::GetAtt'][0] === queueId,
    );
    expect(mappings).toHaveLength(1);
    expect(mappings[0]![1].Properties).toMatchObject({
      FunctionName: { Ref: idOf(stack.scheduler.worker) },
      BatchSize: 1,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: 5 },
    });
    expect(worker.Properties.Timeout).toBe(900);
    expect(resources[queueId]!.Properties.VisibilityTimeout).toBe(6 * 900);
  });

  it('gets the task settings, its own queue visibility, and the LLM settings without the key', () => {
    expect(worker.Properties.Environment.Variables).toMatchObject({
      PLATFORM: 'aws',
      TASK_QUEUE: { 'Fn::GetAtt': [queueId, 'QueueName'] },
      TASK_QUEUE_ARN: arnOf(queueId),
      TASK_SCHEDULE_GROUP: 'Docsift',
      TASK_SCHEDULER_ROLE_ARN: schedulerRoleArn,
      CLASSIFY_QUEUE: { 'Fn::GetAtt': [idOf(stack.queues.classify), 'QueueName'] },
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: String(6 * 900),
      LLM_CONCURRENCY: '4',
      DATABASE_PROXY_ENDPOINT: stack.resolve(stack.database.proxy.endpoint),
    });
    expect(grantsOf(worker, 'secretsmanager:GetSecretValue').flatMap((s) => [s.Resource].flat())).toEqual([
      stack.resolve(stack.database.secret.secretArn),
    ]);
  });

  it('may send to the ingest, classify and task queues, update and read schedules, and delete (not create) one', () => {
    const sendable = grantsOf(worker, 'sqs:SendMessage').flatMap((s) => [s.Resource].flat());
    expect(sendable).toHaveLength(3);
    expect(sendable).toEqual(
      expect.arrayContaining([
        arnOf(idOf(stack.queues.ingest)),
        arnOf(idOf(stack.queues.classify)),
        arnOf(queueId),
      ]),
    );
    // The dispatcher removes the schedule of a task deleted by a cascade; only it deletes.
    for (const [fn, actions] of [
      [worker, ['scheduler:DeleteSchedule', 'scheduler:GetSchedule', 'scheduler:UpdateSchedule']],
      [deadLetterWorker, ['scheduler:GetSchedule', 'scheduler:UpdateSchedule']],
    ] as const) {
      expect(scheduleGrants(statementsOf(fn))).toEqual([
        { Action: [...actions], Effect: 'Allow', Resource: groupSchedules },
      ]);
      expect(passRoleGrants(statementsOf(fn))).toEqual([
        expect.objectContaining({
          Resource: schedulerRoleArn,
          Condition: { StringEquals: { 'iam:PassedToService': 'scheduler.amazonaws.com' } },
        }),
      ]);
    }
    // The dead-letter worker only fails runs: it sends nothing.
    expect(grantsOf(deadLetterWorker, 'sqs:SendMessage')).toEqual([]);
  });

  it('scrapes out through the NAT gateway, in the same subnets as the ingest worker', () => {
    const ingestWorker = resources[idOf(stack.ingest.worker)]!;
    expect(worker.Properties.VpcConfig).toEqual(ingestWorker.Properties.VpcConfig);
  });
});
