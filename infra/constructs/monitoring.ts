import { Duration, Stack } from 'aws-cdk-lib';
import type * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { METRICS_NAMESPACE, type MetricName } from '#lib/observability/catalog.ts';
import type { Database } from './database.ts';
import type { Queues } from './queues.ts';

/** Where each alarm trips; every one can be set from context (infra/context.ts, README). */
export interface AlarmThresholds {
  /** Age of the oldest message in the ingest queue, seconds. */
  ingestQueueAgeSeconds: number;
  /** … in the classify queue. */
  classifyQueueAgeSeconds: number;
  /** … in the task queue (firings, sweeps, webhook deliveries). */
  taskQueueAgeSeconds: number;
  /** Share of API requests answered 5xx over 5 minutes, percent (with at least 20 requests). */
  api5xxPercent: number;
  /** Failed invocations of one worker in 5 minutes (a whole batch failing, a timeout, a crash). */
  workerErrors: number;
  /** Throttled invocations of one worker in 5 minutes. */
  workerThrottles: number;
  /** Aurora's capacity as a share of its maximum (ACUUtilization), percent, for 15 minutes. */
  databaseCapacityPercent: number;
  /** RDS Proxy's database connections as a share of the most it may open, percent, for 15 minutes. */
  proxyConnectionsPercent: number;
  /** Share of LLM provider calls that ended without an answer over 15 minutes, percent (with at least 20 calls). */
  providerFailurePercent: number;
}

export const DEFAULT_ALARM_THRESHOLDS: AlarmThresholds = {
  ingestQueueAgeSeconds: 1800,
  classifyQueueAgeSeconds: 1800,
  taskQueueAgeSeconds: 900,
  api5xxPercent: 5,
  workerErrors: 1,
  workerThrottles: 1,
  databaseCapacityPercent: 95,
  proxyConnectionsPercent: 80,
  providerFailurePercent: 20,
};

/** A queue worker, named for the alarms and the dashboard. */
export interface MonitoredWorker {
  name: string;
  fn: lambda.IFunction;
}

export interface MonitoringProps {
  queues: Queues;
  httpApi: apigwv2.HttpApi;
  database: Database;
  workers: MonitoredWorker[];
  thresholds: AlarmThresholds;
  /** Subscribed to the alarm topic by email (the address confirms the subscription). */
  alarmEmail?: string;
}

const FIVE_MINUTES = Duration.minutes(5);

/**
 * What an operator watches: one alarm per failure mode, each with its reason as description and
 * its threshold from context, all sent to one SNS topic; and one dashboard for the stack.
 *
 * Route functions have no alarm of their own (a hundred functions, two alarms each): a route
 * function's error, timeout or throttle reaches its client as a 5xx, which the API's 5xx-rate
 * alarm sees, and the `ApiServerErrors` metric names the route. The queue workers, which no
 * client waits on, each have their errors and throttles watched.
 */
export class Monitoring extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;
  private readonly service: string;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    // The service dimension of the app's metrics (POWERTOOLS_SERVICE_NAME, set per function).
    this.service = Stack.of(this).stackName;
    this.topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `${this.service} alarms`,
      enforceSSL: true,
    });
    if (props.alarmEmail) this.topic.addSubscription(new subscriptions.EmailSubscription(props.alarmEmail));

    const t = props.thresholds;
    const q = props.queues;
    this.queueAlarms(q, t);
    this.apiAlarm(props.httpApi, t);
    for (const worker of props.workers) this.workerAlarms(worker, t);
    this.databaseAlarms(props.database, t);
    this.providerAlarm(t);

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: this.service,
      defaultInterval: Duration.hours(6),
      widgets: dashboardWidgets(this, props),
    });
  }

  /** A metric of the app's own (namespace docsift), the total over its dimensions. */
  appMetric(name: MetricName, statistic = 'Sum', period = FIVE_MINUTES): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName: name,
      dimensionsMap: { service: this.service },
      statistic,
      period,
    });
  }

  /** Each of the app's metric by its dimension (a SEARCH expression: dashboards only). */
  appMetricBy(name: MetricName, dimensions: string[], label: string, statistic = 'Sum'): cloudwatch.IMetric {
    const schema = [METRICS_NAMESPACE, 'service', ...dimensions].join(',');
    return new cloudwatch.MathExpression({
      expression: `SEARCH('{${schema}} MetricName="${name}" service="${this.service}"', '${statistic}', 300)`,
      usingMetrics: {},
      label,
      period: FIVE_MINUTES,
    });
  }

  private alarm(
    id: string,
    {
      metric,
      ...options
    }: cloudwatch.CreateAlarmOptions & { metric: cloudwatch.Metric | cloudwatch.MathExpression },
  ) {
    const alarm = metric.createAlarm(this, id, {
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      ...options,
      alarmName: `${this.service}-${id}`,
    });
    alarm.addAlarmAction(new actions.SnsAction(this.topic));
    alarm.addOkAction(new actions.SnsAction(this.topic));
    this.alarms.push(alarm);
    return alarm;
  }

  private queueAlarms(q: Queues, t: AlarmThresholds): void {
    const pairs: [string, sqs.Queue, sqs.Queue, number, string][] = [
      [
        'Ingest',
        q.ingest,
        q.ingestDeadLetters,
        t.ingestQueueAgeSeconds,
        'uploads and URL lists are not being ingested',
      ],
      [
        'Classify',
        q.classify,
        q.classifyDeadLetters,
        t.classifyQueueAgeSeconds,
        'classification jobs are not progressing',
      ],
      [
        'Tasks',
        q.tasks,
        q.tasksDeadLetters,
        t.taskQueueAgeSeconds,
        'recurring tasks, maintenance sweeps and event deliveries are late',
      ],
    ];
    for (const [name, queue, deadLetters, ageSeconds, consequence] of pairs) {
      this.alarm(`${name}DeadLetters`, {
        metric: deadLetters.metricApproximateNumberOfMessagesVisible({
          statistic: 'Maximum',
          period: Duration.minutes(1),
        }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        alarmDescription: `Messages are in the ${name.toLowerCase()} dead-letter queue: they failed every retry. Their consumer records each failure where users see it (a failed datasource, failed items, a failed run) and the log has the error under the message's correlation_id; a message still here is one that consumer could not handle.`,
      });
      this.alarm(`${name}QueueAge`, {
        metric: queue.metricApproximateAgeOfOldestMessage({ statistic: 'Maximum', period: FIVE_MINUTES }),
        threshold: ageSeconds,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 1,
        alarmDescription: `The oldest message in the ${name.toLowerCase()} queue waited ${ageSeconds} s or more: ${consequence}. Look at the worker's errors and throttles, its reserved concurrency, and the database.`,
      });
    }
  }

  private apiAlarm(api: apigwv2.HttpApi, t: AlarmThresholds): void {
    const rate = new cloudwatch.MathExpression({
      expression: 'IF(requests >= 20, 100 * errors / requests, 0)',
      usingMetrics: {
        requests: api.metricCount({ period: FIVE_MINUTES, statistic: 'Sum' }),
        errors: api.metricServerError({ period: FIVE_MINUTES, statistic: 'Sum' }),
      },
      label: 'API 5xx %',
      period: FIVE_MINUTES,
    });
    this.alarm('Api5xxRate', {
      metric: rate,
      threshold: t.api5xxPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      alarmDescription: `${t.api5xxPercent} % or more of API requests were answered 5xx over 5 minutes: route functions fail, time out or are throttled (bad input is a 4xx, never a 5xx). The docsift ApiServerErrors metric names the routes; their log lines carry the request id.`,
    });
  }

  private workerAlarms(worker: MonitoredWorker, t: AlarmThresholds): void {
    this.alarm(`${worker.name}Errors`, {
      metric: worker.fn.metricErrors({ period: FIVE_MINUTES, statistic: 'Sum' }),
      threshold: t.workerErrors,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      alarmDescription: `The ${worker.name} function failed ${t.workerErrors} or more invocations in 5 minutes (a timeout, a crash, a whole batch thrown): its messages come back and, after their retries, go to the dead-letter queue.`,
    });
    this.alarm(`${worker.name}Throttles`, {
      metric: worker.fn.metricThrottles({ period: FIVE_MINUTES, statistic: 'Sum' }),
      threshold: t.workerThrottles,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      alarmDescription: `The ${worker.name} function was throttled ${t.workerThrottles} or more times in 5 minutes: its reserved concurrency is below its event source's maximum, or the account ran out of concurrency. Throttled batches spend their messages' receives (3 before the dead-letter queue).`,
    });
  }

  private databaseAlarms(database: Database, t: AlarmThresholds): void {
    this.alarm('DatabaseCapacity', {
      metric: database.cluster.metric('ACUUtilization', { statistic: 'Maximum', period: FIVE_MINUTES }),
      threshold: t.databaseCapacityPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      alarmDescription: `Aurora ran at ${t.databaseCapacityPercent} % or more of its maximum capacity for 15 minutes: it cannot grow further, so queries slow down and time out (503s, retries). Raise the maximum ACUs or lower the workers' concurrency.`,
    });
    // The proxy's connections against the most it may open (MaxConnectionsPercent of the
    // database's max_connections), for its default target group's writer.
    const proxyDimensions = {
      ProxyName: database.proxy.dbProxyName,
      TargetGroup: 'default',
      TargetRole: 'READ_WRITE',
    };
    const proxyMetric = (metricName: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/RDS',
        metricName,
        dimensionsMap: proxyDimensions,
        statistic: 'Maximum',
        period: FIVE_MINUTES,
      });
    this.alarm('ProxyConnections', {
      metric: new cloudwatch.MathExpression({
        expression: 'IF(allowed > 0, 100 * connections / allowed, 0)',
        usingMetrics: {
          connections: proxyMetric('DatabaseConnections'),
          allowed: proxyMetric('MaxDatabaseConnectionsAllowed'),
        },
        label: 'Proxy connections %',
        period: FIVE_MINUTES,
      }),
      threshold: t.proxyConnectionsPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      alarmDescription: `RDS Proxy held ${t.proxyConnectionsPercent} % or more of the database connections it may open for 15 minutes: clients will soon wait for a connection (then 503s). Lower the workers' reserved concurrency or the API's throttling, or raise the database's capacity.`,
    });
  }

  private providerAlarm(t: AlarmThresholds): void {
    const window = Duration.minutes(15);
    this.alarm('ProviderFailureRate', {
      metric: new cloudwatch.MathExpression({
        expression: 'IF(calls >= 20, 100 * failures / calls, 0)',
        usingMetrics: {
          calls: this.appMetric('ProviderCalls', 'Sum', window),
          failures: this.appMetric('ProviderFailures', 'Sum', window),
        },
        label: 'Provider failures %',
        period: window,
      }),
      threshold: t.providerFailurePercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 1,
      alarmDescription: `${t.providerFailurePercent} % or more of the LLM provider calls ended without an answer over 15 minutes (after their retries): job items fail. The ProviderFailures and ProviderThrottles metrics name the provider and model; a revoked key or an exhausted quota looks like this.`,
    });
  }
}

/** The dashboard: traffic and errors, queues, jobs, tokens, database (see README). */
function dashboardWidgets(m: Monitoring, props: MonitoringProps): cloudwatch.IWidget[][] {
  const api = props.httpApi;
  const q = props.queues;
  const workQueues: [string, sqs.Queue][] = [
    ['ingest', q.ingest],
    ['classify', q.classify],
    ['tasks', q.tasks],
  ];
  const deadLetterQueues: [string, sqs.Queue][] = [
    ['ingest DLQ', q.ingestDeadLetters],
    ['classify DLQ', q.classifyDeadLetters],
    ['tasks DLQ', q.tasksDeadLetters],
  ];
  const graph = (title: string, left: cloudwatch.IMetric[], width = 8, right?: cloudwatch.IMetric[]) =>
    new cloudwatch.GraphWidget({ title, left, right, width, height: 6 });
  const cluster = props.database.cluster;
  return [
    [new cloudwatch.TextWidget({ markdown: '## Traffic and errors', width: 24, height: 1 })],
    [
      graph('API requests and errors', [
        api.metricCount({ period: FIVE_MINUTES, label: 'requests' }),
        api.metricClientError({ period: FIVE_MINUTES, label: '4xx' }),
        api.metricServerError({ period: FIVE_MINUTES, label: '5xx' }),
      ]),
      graph('API latency (ms)', [
        api.metricLatency({ period: FIVE_MINUTES, statistic: 'p50', label: 'p50' }),
        api.metricLatency({ period: FIVE_MINUTES, statistic: 'p99', label: 'p99' }),
      ]),
      graph('5xx by route', [m.appMetricBy('ApiServerErrors', ['route'], '')]),
    ],
    [new cloudwatch.TextWidget({ markdown: '## Queues', width: 24, height: 1 })],
    [
      graph(
        'Messages waiting',
        workQueues.map(([label, queue]) => queue.metricApproximateNumberOfMessagesVisible({ label })),
      ),
      graph(
        'Oldest message (s)',
        workQueues.map(([label, queue]) =>
          queue.metricApproximateAgeOfOldestMessage({ label, statistic: 'Maximum' }),
        ),
      ),
      graph(
        'Dead-letter queues',
        deadLetterQueues.map(([label, queue]) =>
          queue.metricApproximateNumberOfMessagesVisible({ label, statistic: 'Maximum' }),
        ),
      ),
    ],
    [
      graph('Queue age at pick-up (ms, p90)', [m.appMetricBy('QueueAge', ['queue'], '', 'p90')]),
      graph(
        'Worker errors and throttles',
        props.workers.flatMap((w) => [
          w.fn.metricErrors({ label: `${w.name} errors`, period: FIVE_MINUTES }),
          w.fn.metricThrottles({ label: `${w.name} throttles`, period: FIVE_MINUTES }),
        ]),
      ),
      graph(
        'Worker concurrency',
        props.workers.map((w) =>
          w.fn.metric('ConcurrentExecutions', { label: w.name, statistic: 'Maximum', period: FIVE_MINUTES }),
        ),
      ),
    ],
    [new cloudwatch.TextWidget({ markdown: '## Jobs', width: 24, height: 1 })],
    [
      graph('Jobs finished by status', [m.appMetricBy('JobsFinished', ['status'], '')]),
      graph('Items classified and failed', [
        m.appMetric('ItemsClassified').with({ label: 'classified' }),
        m.appMetric('ItemsFailed').with({ label: 'failed' }),
      ]),
      graph('Provider calls', [
        m.appMetric('ProviderCalls').with({ label: 'calls' }),
        m.appMetric('ProviderFailures').with({ label: 'failures' }),
        m.appMetric('ProviderThrottles').with({ label: '429s' }),
        m.appMetric('ProviderRetries').with({ label: 'retries' }),
      ]),
    ],
    [
      graph('Provider latency (ms)', [
        m.appMetric('ProviderLatency', 'p50').with({ label: 'p50' }),
        m.appMetric('ProviderLatency', 'p99').with({ label: 'p99' }),
      ]),
      graph('Datasources by type', [
        m.appMetricBy('DatasourcesCompleted', ['type'], 'completed'),
        m.appMetricBy('DatasourcesFailed', ['type'], 'failed'),
      ]),
      graph(
        'Records ingested, ingest duration (ms, p90)',
        [m.appMetricBy('RecordsIngested', ['type'], '')],
        8,
        [m.appMetricBy('IngestDuration', ['kind'], '', 'p90')],
      ),
    ],
    [new cloudwatch.TextWidget({ markdown: '## Tokens', width: 24, height: 1 })],
    [
      graph(
        'Tokens',
        [
          m.appMetric('InputTokens').with({ label: 'input' }),
          m.appMetric('CachedInputTokens').with({ label: 'cached input' }),
          m.appMetric('OutputTokens').with({ label: 'output' }),
        ],
        12,
      ),
      graph(
        'Tokens by model',
        [
          m.appMetricBy('InputTokens', ['provider', 'model'], 'input'),
          m.appMetricBy('OutputTokens', ['provider', 'model'], 'output'),
        ],
        12,
      ),
    ],
    [new cloudwatch.TextWidget({ markdown: '## Database', width: 24, height: 1 })],
    [
      graph(
        'Aurora capacity (ACU) and utilisation (%)',
        [cluster.metric('ServerlessDatabaseCapacity', { period: FIVE_MINUTES, statistic: 'Maximum' })],
        8,
        [cluster.metric('ACUUtilization', { period: FIVE_MINUTES, statistic: 'Maximum' })],
      ),
      graph('Aurora CPU (%) and connections', [cluster.metricCPUUtilization({ period: FIVE_MINUTES })], 8, [
        cluster.metricDatabaseConnections({ period: FIVE_MINUTES }),
      ]),
      graph('RDS Proxy connections', [
        new cloudwatch.Metric({
          namespace: 'AWS/RDS',
          metricName: 'ClientConnections',
          dimensionsMap: { ProxyName: props.database.proxy.dbProxyName },
          statistic: 'Maximum',
          period: FIVE_MINUTES,
          label: 'client',
        }),
        new cloudwatch.Metric({
          namespace: 'AWS/RDS',
          metricName: 'DatabaseConnections',
          dimensionsMap: { ProxyName: props.database.proxy.dbProxyName },
          statistic: 'Maximum',
          period: FIVE_MINUTES,
          label: 'database',
        }),
      ]),
    ],
  ];
}
