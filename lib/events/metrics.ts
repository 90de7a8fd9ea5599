import { recordMetric } from '#lib/observability/metrics.ts';
import type { LifecycleEvent } from './types.ts';

/**
 * The metrics of published lifecycle events. Counted here, once an event is out, rather than
 * where each change happens: an event exists exactly when its change committed, so the counts
 * are of changes that happened, whichever of the many code paths made them.
 */
export function recordEventMetrics(events: LifecycleEvent[]): void {
  for (const event of events) {
    recordMetric('EventsPublished', { type: event.type });
    switch (event.type) {
      case 'datasource.completed':
      case 'datasource.failed': {
        const type = event.data.datasource_type ?? 'unknown';
        if (event.type === 'datasource.failed') recordMetric('DatasourcesFailed', { type });
        else {
          recordMetric('DatasourcesCompleted', { type });
          recordMetric('RecordsIngested', { type }, Number(event.data.counts.records ?? 0));
        }
        break;
      }
      case 'job.completed':
      case 'job.failed':
      case 'job.cancelled':
      case 'job.budget_exceeded':
        recordMetric('JobsFinished', { status: event.data.status });
        break;
    }
  }
}
