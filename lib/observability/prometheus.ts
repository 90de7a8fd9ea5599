import { Counter, Histogram, Registry } from 'prom-client';
import { METRICS, type MetricName } from './catalog.ts';
import { type MetricPoint, onMetric } from './metrics.ts';

/**
 * The local runtime's metrics in Prometheus text format (`GET /api/v1/metrics`): every point the
 * process records (lib/observability/metrics.ts) lands in a prom-client registry. Counts are
 * counters (`docsift_items_classified_total`), durations histograms in seconds
 * (`docsift_provider_latency_seconds`), the catalog's dimensions their labels. Local only: a
 * Lambda process lives for a few invocations, so in AWS the same points are CloudWatch's.
 */
export class PrometheusMetrics {
  readonly registry = new Registry();
  private readonly metrics = new Map<MetricName, Counter | Histogram>();
  private readonly unsubscribe: () => void;

  constructor() {
    this.unsubscribe = onMetric((point) => this.observe(point));
  }

  /** The registry as Prometheus text exposition format, and its content type. */
  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await this.registry.metrics(), contentType: this.registry.contentType };
  }

  stop(): void {
    this.unsubscribe();
  }

  private observe(point: MetricPoint): void {
    const metric = this.metricOf(point.name);
    if (metric instanceof Histogram) metric.observe(point.dimensions, point.value / 1000);
    else metric.inc(point.dimensions, point.value);
  }

  private metricOf(name: MetricName): Counter | Histogram {
    let metric = this.metrics.get(name);
    if (!metric) {
      const { unit, dimensions, description } = METRICS[name];
      const options = { labelNames: [...dimensions], registers: [this.registry] };
      metric =
        unit === 'Count'
          ? new Counter({ name: prometheusName(name), help: description, ...options })
          : new Histogram({ name: prometheusName(name), help: description, ...options });
      this.metrics.set(name, metric);
    }
    return metric;
  }
}

/**
 * A catalog name as Prometheus spells it: snake_case under `docsift_`, counters ending in
 * `_total`, durations in `_seconds`.
 *
 * @example prometheusName('ItemsClassified') // 'docsift_items_classified_total'
 */
export function prometheusName(name: MetricName): string {
  const snake = name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
  const base = snake.replace(/_(latency|duration|age)$/, '_$1');
  return METRICS[name].unit === 'Count' ? `docsift_${base}_total` : `docsift_${base}_seconds`;
}
