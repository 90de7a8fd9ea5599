import { afterEach, describe, expect, it, vi } from 'vitest';
import { logger } from '#lib/logger.ts';
import { METRICS } from './catalog.ts';
import { withCorrelation } from './correlation.ts';
import { batchFlushes, flushMetrics, invocationEnded, recordMetric } from './metrics.ts';
import { PrometheusMetrics, prometheusName } from './prometheus.ts';

/** The JSON lines written to stdout while `fn` runs, with logging on (the suite runs SILENT). */
function stdoutLines(fn: () => void): Record<string, any>[] {
  const level = process.env.LOG_LEVEL;
  process.env.LOG_LEVEL = 'INFO';
  const lines: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    fn();
  } finally {
    write.mockRestore();
    process.env.LOG_LEVEL = level;
  }
  return lines
    .flatMap((l) => l.split('\n'))
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

afterEach(() => flushMetrics());

describe('the metrics port', () => {
  it('writes embedded metric format: one line per dimension set, with the total without dimensions, counts summed', () => {
    const lines = stdoutLines(() => {
      recordMetric('ItemsClassified', { provider: 'openai', model: 'a' });
      recordMetric('ItemsClassified', { provider: 'openai', model: 'a' }, 2);
      recordMetric('ProviderLatency', { provider: 'openai', model: 'a' }, 120);
      recordMetric('ProviderLatency', { provider: 'openai', model: 'a' }, 80);
      recordMetric('ItemsClassified', { provider: 'openai', model: 'b' });
      recordMetric('WebhookLatency', {}, 35);
      flushMetrics();
    });
    expect(lines).toHaveLength(3);
    const a = lines.find((l) => l.model === 'a')!;
    expect(a._aws.CloudWatchMetrics).toEqual([
      {
        Namespace: 'docsift',
        Dimensions: [['service', 'provider', 'model'], ['service']],
        Metrics: [
          { Name: 'ItemsClassified', Unit: 'Count' },
          { Name: 'ProviderLatency', Unit: 'Milliseconds' },
        ],
      },
    ]);
    expect(a).toMatchObject({
      service: 'docsift',
      provider: 'openai',
      ItemsClassified: 3,
      ProviderLatency: [120, 80],
    });
    expect(lines.find((l) => l.model === 'b')).toMatchObject({ ItemsClassified: 1 });
    const webhook = lines.find((l) => 'WebhookLatency' in l)!;
    expect(webhook._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service']]);
  });

  it('keeps at most 100 values of a metric on a line', () => {
    const lines = stdoutLines(() => {
      for (let i = 0; i < 150; i++) recordMetric('QueueAge', { queue: 'q' }, i);
      flushMetrics();
    });
    expect(lines.map((l) => l.QueueAge.length)).toEqual([100, 50]);
    expect(lines.every((l) => l.queue === 'q')).toBe(true);
  });

  it('flushes at the end of each invocation, unless batched: then one line an interval, counts summed', () => {
    const each = stdoutLines(() => {
      recordMetric('ApiRequests', { route: 'GET /x' });
      invocationEnded();
    });
    expect(each).toHaveLength(1);
    vi.useFakeTimers();
    const stopBatching = batchFlushes(1000);
    try {
      const during = stdoutLines(() => {
        for (let i = 0; i < 3; i++) {
          recordMetric('ApiRequests', { route: 'GET /x' });
          invocationEnded();
        }
      });
      expect(during).toEqual([]);
      const after = stdoutLines(() => vi.advanceTimersByTime(1000));
      expect(after).toHaveLength(1);
      expect(after[0]).toMatchObject({ route: 'GET /x', ApiRequests: 3 });
      recordMetric('ApiRequests', { route: 'GET /x' });
      invocationEnded();
      // Stopping writes what is left.
      expect(stdoutLines(() => stopBatching())).toMatchObject([{ ApiRequests: 1 }]);
    } finally {
      stopBatching();
      vi.useRealTimers();
    }
  });

  it('writes nothing when logging is off, and nothing twice', () => {
    recordMetric('ApiRequests', { route: 'GET /x' });
    flushMetrics(); // LOG_LEVEL=SILENT: dropped
    expect(stdoutLines(() => flushMetrics())).toEqual([]);
  });
});

describe('Prometheus text', () => {
  it('names counters and durations as Prometheus does', () => {
    expect(prometheusName('ItemsClassified')).toBe('docsift_items_classified_total');
    expect(prometheusName('ProviderLatency')).toBe('docsift_provider_latency_seconds');
    expect(prometheusName('CachedInputTokens')).toBe('docsift_cached_input_tokens_total');
    expect(new Set(Object.keys(METRICS).map((n) => prometheusName(n as never))).size).toBe(
      Object.keys(METRICS).length,
    );
  });

  it('counts what is recorded from its start, labelled by dimension', async () => {
    recordMetric('ApiRequests', { route: 'GET /before' });
    const prometheus = new PrometheusMetrics();
    try {
      recordMetric('ApiRequests', { route: 'GET /api/v1/users/me' });
      recordMetric('ApiRequests', { route: 'GET /api/v1/users/me' });
      recordMetric('IngestDuration', { kind: 'upload' }, 1500);
      const { body, contentType } = await prometheus.render();
      expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(body).toContain('# TYPE docsift_api_requests_total counter');
      expect(body).toContain('docsift_api_requests_total{route="GET /api/v1/users/me"} 2');
      expect(body).not.toContain('GET /before');
      expect(body).toContain('docsift_ingest_duration_seconds_sum{kind="upload"} 1.5');
      expect(body).toContain('docsift_ingest_duration_seconds_count{kind="upload"} 1');
    } finally {
      prometheus.stop();
    }
  });
});

describe('log lines', () => {
  it('carry the correlation id of the work in progress, and none outside it', () => {
    const log = logger.createChild({ logLevel: 'INFO' });
    const lines = stdoutLines(() => {
      withCorrelation('req-1', () => log.info('inside'));
      log.info('outside');
    });
    expect(lines.map((l) => [l.message, l.correlation_id])).toEqual([
      ['inside', 'req-1'],
      ['outside', undefined],
    ]);
    expect(lines[0]).toMatchObject({ level: 'INFO', service: 'docsift' });
  });
});
