import { withCorrelation } from './correlation.ts';
import { invocationEnded, recordMetric } from './metrics.ts';
import { traced } from './tracing.ts';

/**
 * One invocation of a handler, observed: `fn` runs with `correlation` as its correlation id, in
 * a trace subsegment `name` where tracing is on, and the metrics it recorded are flushed when it
 * ends (Lambda may freeze the process right after; see {@link invocationEnded}).
 *
 * @example return observeInvocation('## GET /api/v1/users/me', requestId, () => lambda(event, context))
 */
export async function observeInvocation<R>(
  name: string,
  correlation: string,
  fn: () => Promise<R>,
  upstreamTrace?: string,
): Promise<R> {
  try {
    return await withCorrelation(correlation, () => traced(name, correlation, fn, upstreamTrace));
  } finally {
    invocationEnded();
  }
}

/**
 * The request metrics of one answer: requests, 4xx and 5xx by route key, and its latency.
 *
 * @example recordRequest('GET /api/v1/users/me', 200, 12)
 */
export function recordRequest(route: string, status: number | undefined, durationMs: number): void {
  recordMetric('ApiRequests', { route });
  if (status !== undefined && status >= 500) recordMetric('ApiServerErrors', { route });
  else if (status !== undefined && status >= 400) recordMetric('ApiClientErrors', { route });
  recordMetric('ApiLatency', { route }, durationMs);
}
