/**
 * Every metric docsift emits, in one place: its unit, its dimensions and what it counts. The
 * CloudWatch namespace is {@link METRICS_NAMESPACE}; every metric is published once with its
 * dimensions and once without them (the total, which alarms and the dashboard read). Locally
 * the same names are served as Prometheus text (snake_case, see prometheusName).
 *
 * Dimensions are few and bounded on purpose (a route key, a datasource type, a provider and
 * model, a queue, an outcome): CloudWatch bills each combination as a metric of its own.
 */
export const METRICS_NAMESPACE = 'docsift';

/** How a metric's values read: counts add up; milliseconds are durations (summed and counted). */
export type MetricUnit = 'Count' | 'Milliseconds';

export type MetricDefinition = {
  unit: MetricUnit;
  dimensions: readonly string[];
  description: string;
};

const count = <D extends readonly string[]>(dimensions: D, description: string) =>
  ({ unit: 'Count', dimensions, description }) as const;
const ms = <D extends readonly string[]>(dimensions: D, description: string) =>
  ({ unit: 'Milliseconds', dimensions, description }) as const;

const byModel = ['provider', 'model'] as const;

export const METRICS = {
  ApiRequests: count(
    ['route'],
    'Requests answered by a route function (route key, e.g. `GET /api/v1/users/me`)',
  ),
  ApiClientErrors: count(['route'], 'Requests answered with a 4xx'),
  ApiServerErrors: count(['route'], 'Requests answered with a 5xx'),
  ApiLatency: ms(['route'], 'Time from the handler’s start to its answer'),
  QueueAge: ms(['queue'], 'Age of a message when a worker picks it up (since it was sent)'),
  MessagesFailed: count(['queue'], 'Messages a worker failed (retried, then dead-lettered)'),
  IngestDuration: ms(['kind'], 'Time the ingest worker spent on one message, by message kind'),
  DatasourcesCompleted: count(['type'], 'Datasource runs that completed, by datasource type'),
  DatasourcesFailed: count(['type'], 'Datasource runs that failed, by datasource type'),
  RecordsIngested: count(['type'], 'Records of the datasource runs that completed, by datasource type'),
  JobsFinished: count(['status'], 'Classification jobs that ended, by final status'),
  ItemsClassified: count(byModel, 'Job items classified with a valid result'),
  ItemsFailed: count(byModel, 'Job items that failed (provider error, invalid answer, budget)'),
  ProviderCalls: count(byModel, 'Calls to an LLM provider, retries included in the one call'),
  ProviderFailures: count(byModel, 'Calls that ended without an answer after their retries'),
  ProviderLatency: ms(byModel, 'Time of one attempt at a provider call'),
  ProviderThrottles: count(byModel, 'Attempts the provider answered with 429'),
  ProviderRetries: count(byModel, 'Attempts made again after a retryable failure'),
  InputTokens: count(byModel, 'Input tokens billed, cached ones included'),
  CachedInputTokens: count(byModel, 'The part of the input tokens served from the provider’s cache'),
  OutputTokens: count(byModel, 'Output tokens billed'),
  EventsPublished: count(['type'], 'Lifecycle events published (bus and webhooks), by detail type'),
  WebhookDeliveries: count(['result'], 'Webhook delivery attempts, `delivered` or `failed`'),
  WebhookLatency: ms([], 'Time of one webhook delivery attempt (the receiver’s answer included)'),
} as const satisfies Record<string, MetricDefinition>;

export type MetricName = keyof typeof METRICS;

/** The dimension values a metric takes, by its catalog entry. */
export type DimensionsOf<N extends MetricName> = Record<(typeof METRICS)[N]['dimensions'][number], string>;
