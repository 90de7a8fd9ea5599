import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ALARM_THRESHOLDS } from '#infra/constructs/monitoring.ts';
import { propsFromContext } from '#infra/context.ts';
import { buildStack, inspect } from './stack.ts';

// Alarms, the alarm topic, the dashboard, tracing and the workers' concurrency, on the default
// stack and on one configured from context.
const defaults = buildStack();
const configured = buildStack(
  propsFromContext(
    new App({
      context: {
        tracing: 'true',
        alarmEmail: 'ops@example.com',
        alarmApi5xxPercent: '2',
        alarmClassifyQueueAgeSeconds: '600',
        apiThrottleRateLimit: '50',
        apiThrottleBurstLimit: '80',
        ingestConcurrency: '4',
      },
    }).node,
  ),
);
const { resources, ofType } = inspect(defaults.flat);
const idOf = (construct: { node: { defaultChild?: unknown } }) =>
  defaults.stack.getLogicalId(construct.node.defaultChild as never);
const alarms = ofType('AWS::CloudWatch::Alarm');
const dimensionsOf = (alarm: (typeof alarms)[number][1]) =>
  [
    ...(alarm.Properties.Dimensions ?? []),
    ...(alarm.Properties.Metrics ?? []).flatMap(
      (m: { MetricStat?: { Metric: { Dimensions?: unknown[] } } }) => m.MetricStat?.Metric.Dimensions ?? [],
    ),
  ] as { Name: string; Value: unknown }[];

describe('alarms', () => {
  it('watch every queue: messages in each dead-letter queue, the age of the oldest in each work queue', () => {
    const q = defaults.stack.queues;
    const watched = (metric: string) =>
      alarms
        .filter(([, a]) => a.Properties.MetricName === metric)
        .flatMap(([, a]) => dimensionsOf(a).filter((d) => d.Name === 'QueueName'))
        .map((d) => JSON.stringify(d.Value));
    const nameOf = (queue: typeof q.ingest) => JSON.stringify({ 'Fn::GetAtt': [idOf(queue), 'QueueName'] });
    // Every queue of the stack is one of these six.
    expect(ofType('AWS::SQS::Queue')).toHaveLength(6);
    expect(watched('ApproximateNumberOfMessagesVisible').sort()).toEqual(
      [q.ingestDeadLetters, q.classifyDeadLetters, q.tasksDeadLetters].map(nameOf).sort(),
    );
    expect(watched('ApproximateAgeOfOldestMessage').sort()).toEqual(
      [q.ingest, q.classify, q.tasks].map(nameOf).sort(),
    );
    const dlq = alarms.find(([id]) => id.includes('IngestDeadLetters'))![1];
    expect(dlq.Properties).toMatchObject({ Threshold: 0, ComparisonOperator: 'GreaterThanThreshold' });
  });

  it('each say why they matter, and tell the topic when they trip and recover', () => {
    const topic = { Ref: idOf(defaults.stack.monitoring.topic) };
    expect(alarms.length).toBeGreaterThanOrEqual(6 + 1 + 12 + 3);
    for (const [id, alarm] of alarms) {
      expect(alarm.Properties.AlarmDescription, id).toMatch(/\w.{40,}/);
      expect(alarm.Properties.AlarmActions, id).toEqual([topic]);
      expect(alarm.Properties.OKActions, id).toEqual([topic]);
    }
  });

  it('watch the API’s 5xx rate, each worker’s errors and throttles, the database, the proxy and the providers', () => {
    const names = alarms.map(([, a]) => a.Properties.AlarmName as string);
    const workers = [
      'Ingest',
      'IngestDeadLetter',
      'Classify',
      'ClassifyDeadLetter',
      'Task',
      'TaskDeadLetter',
    ];
    expect(names).toEqual(
      expect.arrayContaining([
        'Docsift-Api5xxRate',
        'Docsift-DatabaseCapacity',
        'Docsift-ProxyConnections',
        'Docsift-ProviderFailureRate',
        ...workers.flatMap((w) => [`Docsift-${w}WorkerErrors`, `Docsift-${w}WorkerThrottles`]),
      ]),
    );
    const byName = (name: string) => alarms.find(([, a]) => a.Properties.AlarmName === name)![1];
    expect(byName('Docsift-Api5xxRate').Properties.Threshold).toBe(DEFAULT_ALARM_THRESHOLDS.api5xxPercent);
    // The provider alarm reads the app's own metrics, of this stack's service.
    const provider = JSON.stringify(byName('Docsift-ProviderFailureRate').Properties.Metrics);
    expect(provider).toContain('"Namespace":"docsift"');
    expect(provider).toContain('"MetricName":"ProviderFailures"');
    expect(provider).toContain('{"Name":"service","Value":"Docsift"}');
  });

  it('take their thresholds and the email subscription from context', () => {
    const { ofType: configuredOfType } = inspect(configured.flat);
    const threshold = (name: string) =>
      configuredOfType('AWS::CloudWatch::Alarm').find(([, a]) => a.Properties.AlarmName === name)![1]
        .Properties.Threshold;
    expect(threshold('Docsift-Api5xxRate')).toBe(2);
    expect(threshold('Docsift-ClassifyQueueAge')).toBe(600);
    expect(threshold('Docsift-IngestQueueAge')).toBe(DEFAULT_ALARM_THRESHOLDS.ingestQueueAgeSeconds);
    expect(configuredOfType('AWS::SNS::Subscription').map(([, s]) => s.Properties)).toEqual([
      expect.objectContaining({ Protocol: 'email', Endpoint: 'ops@example.com' }),
    ]);
    expect(ofType('AWS::SNS::Subscription')).toEqual([]);
  });
});

describe('the dashboard', () => {
  it('is one, with traffic and errors, queues, jobs, tokens and database', () => {
    const dashboards = ofType('AWS::CloudWatch::Dashboard');
    expect(dashboards).toHaveLength(1);
    const body = JSON.stringify(
      defaults.template.toJSON().Resources[dashboards[0]![0]].Properties.DashboardBody,
    );
    for (const section of ['Traffic and errors', 'Queues', 'Jobs', 'Tokens', 'Database']) {
      expect(body).toContain(`## ${section}`);
    }
    for (const metric of [
      'JobsFinished',
      'InputTokens',
      'ServerlessDatabaseCapacity',
      'ApproximateAgeOfOldestMessage',
    ]) {
      expect(body).toContain(metric);
    }
  });
});

describe('tracing, throttling and worker concurrency', () => {
  // The app's functions, each made by appFunction (CDK's own custom-resource handlers aside).
  const functions = (flat: typeof defaults.flat) =>
    inspect(flat)
      .ofType('AWS::Lambda::Function')
      .filter(([, fn]) => fn.Properties.Environment?.Variables?.NODE_OPTIONS === '--enable-source-maps');

  it('names every function’s service after the stack; traces none by default', () => {
    for (const [id, fn] of functions(defaults.flat)) {
      expect(fn.Properties.Environment.Variables.POWERTOOLS_SERVICE_NAME, id).toBe('Docsift');
      expect(fn.Properties.TracingConfig, id).toBeUndefined();
    }
  });

  it('traces every function with `tracing`, each role allowed to write to X-Ray', () => {
    const { statementsOf } = inspect(configured.flat);
    for (const [id, fn] of functions(configured.flat)) {
      expect(fn.Properties.TracingConfig, id).toEqual({ Mode: 'Active' });
      expect(fn.Properties.Environment.Variables.POWERTOOLS_TRACE_ENABLED, id).toBe('true');
      const xray = statementsOf(fn).filter((s) => [s.Action].flat().includes('xray:PutTraceSegments'));
      expect(xray, id).not.toEqual([]);
    }
  });

  it('throttles the stage from context', () => {
    const stage = (flat: typeof defaults.flat) =>
      inspect(flat).ofType('AWS::ApiGatewayV2::Stage')[0]![1].Properties.DefaultRouteSettings;
    expect(stage(defaults.flat)).toMatchObject({ ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 });
    expect(stage(configured.flat)).toMatchObject({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 80 });
  });

  it('reserves each worker the concurrency its event source may use, no more', () => {
    const s = defaults.stack;
    const workers = [s.ingest, s.classify, s.scheduler].flatMap((c) => [c.worker, c.deadLetterWorker]);
    for (const worker of workers) {
      const fn = resources[idOf(worker)]!;
      const mapping = ofType('AWS::Lambda::EventSourceMapping').find(
        ([, m]) => m.Properties.FunctionName.Ref === idOf(worker),
      )![1];
      expect(fn.Properties.ReservedConcurrentExecutions).toBe(
        mapping.Properties.ScalingConfig.MaximumConcurrency,
      );
    }
    // Route functions reserve nothing: the stage's throttle bounds them.
    const route = resources[idOf(s.api.functions.values().next().value!)]!;
    expect(route.Properties.ReservedConcurrentExecutions).toBeUndefined();
    const ingest = inspect(configured.flat).resources[
      configured.stack.getLogicalId(configured.stack.ingest.worker.node.defaultChild as never)
    ]!;
    expect(ingest.Properties.ReservedConcurrentExecutions).toBe(4);
  });
});
