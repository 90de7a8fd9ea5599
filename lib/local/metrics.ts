import { type HttpLambda, httpHandler } from '#lib/http/handler.ts';
import { RawResponse } from '#lib/http/response.ts';
import { route } from '#lib/http/route.ts';
import { API } from '#lib/http/routes/paths.ts';
import type { PrometheusMetrics } from '#lib/observability/prometheus.ts';

/**
 * `GET /api/v1/metrics`, the local runtime's own route (not in the route table: in AWS the
 * metrics are CloudWatch's, and a Lambda process has none worth scraping): the process's
 * metrics in Prometheus text format, for superusers.
 */
export const localMetricsRoute = route({
  handler: 'local.metrics',
  method: 'GET',
  path: `${API}/metrics`,
  auth: 'superuser',
  summary: 'This process’s metrics in Prometheus text format (local runtime only)',
  tags: ['system'],
  response: { status: 200, contentType: 'text/plain' },
});

/** The handler of {@link localMetricsRoute}, over the runtime's registry. */
export function localMetricsHandler(metrics: PrometheusMetrics): HttpLambda {
  return httpHandler(localMetricsRoute, async () => {
    const { body, contentType } = await metrics.render();
    return new RawResponse(200, body, { 'content-type': contentType });
  });
}
