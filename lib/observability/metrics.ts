import { Metrics } from '@aws-lambda-powertools/metrics';
import { logger } from '#lib/logger.ts';
import {
  type DimensionsOf,
  METRICS,
  METRICS_NAMESPACE,
  type MetricName,
  type MetricUnit,
} from './catalog.ts';

/**
 * The metrics port: services and workers call {@link recordMetric} with a catalog name
 * (lib/observability/catalog.ts) and never import Powertools. Points are buffered and written
 * as CloudWatch embedded metric format (EMF) lines on stdout by {@link flushMetrics}, which the
 * handler wrappers call at the end of every invocation (lib/http/handler.ts,
 * lib/workers/batch.ts): in Lambda CloudWatch turns the lines into metrics, locally they are
 * log lines like any other. Listeners (the local runtime's Prometheus registry) see each point
 * as it is recorded.
 */
export type MetricPoint = {
  name: MetricName;
  unit: MetricUnit;
  value: number;
  dimensions: Record<string, string>;
};

const buffer: MetricPoint[] = [];
const listeners = new Set<(point: MetricPoint) => void>();
/** Points buffered before a flush is forced, so a long batch never holds many. */
const MAX_BUFFERED = 1000;
/** EMF takes at most 100 values of one metric in one line. */
const MAX_VALUES_PER_LINE = 100;

let emf: Metrics | undefined;
function emfWriter(): Metrics {
  // The service dimension: the stack's name in AWS (POWERTOOLS_SERVICE_NAME), so stages sharing
  // an account keep their metrics apart.
  emf ??= new Metrics({ namespace: METRICS_NAMESPACE, serviceName: serviceName(), logger });
  return emf;
}

/** The `service` dimension of every metric. */
export function serviceName(): string {
  return process.env.POWERTOOLS_SERVICE_NAME ?? 'docsift';
}

/**
 * Records one value of a metric with its dimensions (all of its catalog entry's).
 *
 * @example recordMetric('ItemsClassified', { provider: 'openai', model: 'gpt-4o-mini' })
 */
export function recordMetric<N extends MetricName>(name: N, dimensions: DimensionsOf<N>, value = 1): void {
  if (!Number.isFinite(value)) return;
  const point: MetricPoint = { name, unit: METRICS[name].unit, value, dimensions };
  buffer.push(point);
  for (const listener of listeners) listener(point);
  if (buffer.length >= MAX_BUFFERED) flushMetrics();
}

let batchEveryMs: number | undefined;
let batchTimer: NodeJS.Timeout | undefined;

/**
 * The end of an invocation: flushes its points now, unless flushes are batched
 * ({@link batchFlushes}), then within the batch interval.
 */
export function invocationEnded(): void {
  if (batchEveryMs === undefined) {
    flushMetrics();
    return;
  }
  batchTimer ??= setTimeout(() => {
    batchTimer = undefined;
    flushMetrics();
  }, batchEveryMs).unref();
}

/**
 * Batches the flushes at the ends of invocations into one every `ms`, for a process that
 * serves many invocations and is never frozen between them (the local runtime): a stdout
 * write per request cost about a tenth of a request's CPU in `npm run bench`. Counts are summed
 * across the batch as across one invocation. Returns the stop, which flushes what is left.
 *
 * @example const stopBatching = batchFlushes(1000);
 */
export function batchFlushes(ms: number): () => void {
  batchEveryMs = ms;
  return () => {
    batchEveryMs = undefined;
    clearTimeout(batchTimer);
    batchTimer = undefined;
    flushMetrics();
  };
}

/** Calls `listener` with every point recorded from now on; returns the unsubscribe. */
export function onMetric(listener: (point: MetricPoint) => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * Writes the buffered points as EMF lines, one per dimension set (with the set's rollup
 * without dimensions), counts summed. Not written when logging is off (`LOG_LEVEL=SILENT`,
 * the test suite's): the points still reach the listeners.
 */
export function flushMetrics(): void {
  if (buffer.length === 0) return;
  const points = buffer.splice(0);
  if ((process.env.LOG_LEVEL ?? process.env.POWERTOOLS_LOG_LEVEL) === 'SILENT') return;
  const writer = emfWriter();
  for (const group of groupByDimensions(points).values()) {
    for (const line of linesOf(group)) {
      for (const [key, value] of Object.entries(line[0]!.dimensions)) writer.addDimension(key, value);
      // The same values without dimensions: the totals that alarms and the dashboard read.
      if (Object.keys(line[0]!.dimensions).length > 0) writer.addDimensions({});
      for (const p of line) writer.addMetric(p.name, p.unit, p.value);
      writer.publishStoredMetrics();
    }
  }
}

function groupByDimensions(points: MetricPoint[]): Map<string, MetricPoint[]> {
  const groups = new Map<string, MetricPoint[]>();
  for (const p of points) {
    let key = '';
    for (const name of Object.keys(p.dimensions).sort()) key += `${name}\u0000${p.dimensions[name]}\u0000`;
    const group = groups.get(key);
    if (group) group.push(p);
    else groups.set(key, [p]);
  }
  return groups;
}

/** A group's points as EMF lines: counts summed into one value each, durations at most 100 a line. */
function linesOf(group: MetricPoint[]): MetricPoint[][] {
  const counts = new Map<string, MetricPoint>();
  const durations: MetricPoint[] = [];
  for (const p of group) {
    if (p.unit !== 'Count') durations.push(p);
    else {
      const sum = counts.get(p.name);
      counts.set(p.name, sum ? { ...sum, value: sum.value + p.value } : p);
    }
  }
  const lines: MetricPoint[][] = [[...counts.values()]];
  for (let i = 0; i < durations.length; i += MAX_VALUES_PER_LINE) {
    if (i === 0) lines[0]!.push(...durations.slice(0, MAX_VALUES_PER_LINE));
    else lines.push(durations.slice(i, i + MAX_VALUES_PER_LINE));
  }
  return lines.filter((line) => line.length > 0);
}
