import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { type Config, setConfig } from '#lib/config.ts';
import { prepareDatabase } from '#lib/db/bootstrap.ts';
import { closeDb, db } from '#lib/db/database.ts';
import { type EmbeddedDatabase, startEmbeddedPostgres } from '#lib/db/embedded.ts';
import { routes } from '#lib/http/routes.ts';
import { batchFlushes } from '#lib/observability/metrics.ts';
import { PrometheusMetrics } from '#lib/observability/prometheus.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { localMetricsHandler, localMetricsRoute } from './metrics.ts';
import type { LocalScheduler } from './scheduler.ts';
import { createLocalServer } from './server.ts';
import { type RuntimeSummary, runtimeSummary } from './startup.ts';
import { type LocalWorkers, startWorkers } from './workers.ts';

export type LocalRuntime = {
  url: string;
  port: number;
  /** What runs, for the start-up log. */
  summary: RuntimeSummary;
  /** The runtime's stand-in for EventBridge Scheduler (tests tick it with their own clock). */
  scheduler: () => LocalScheduler | undefined;
  stop: () => Promise<void>;
};

/** The address a client on this machine uses for a listening host: loopback for a wildcard. */
function reachableHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Starts everything `npm start` runs in one process: the database (embedded unless
 * DATABASE_URL is set), migrations and seed, and the HTTP server on `config.port` (0 = any).
 * `stop()` closes the server after in-flight requests, then the database.
 *
 * Holds `DATA_DIR` for its lifetime: a second runtime on it fails with a
 * {@link DataDirInUseError} naming the first one's pid.
 */
export async function startLocalRuntime(base: Config): Promise<LocalRuntime> {
  let embedded: EmbeddedDatabase | undefined;
  let config = base;
  await mkdir(config.dataDir, { recursive: true });
  const releaseDataDir = lockDataDir(config.dataDir);
  try {
    if (!config.databaseUrl) {
      embedded = await startEmbeddedPostgres(path.resolve(config.dataDir));
      config = { ...config, databaseUrl: embedded.url };
    }
    setConfig(config);
    await prepareDatabase(await db('migrate'), config.firstSuperuser);
  } catch (error) {
    await closeDb();
    await embedded?.stop();
    releaseDataDir();
    throw error;
  }

  let workers: LocalWorkers | undefined;
  // The upload URLs need the port, so the server listens first; requests wait until the
  // queues and adapters are up (a failed start closes the server anyway).
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  const metrics = new PrometheusMetrics();
  // One process serves every invocation and is never frozen: EMF lines once a second, not per request.
  const stopBatching = batchFlushes(1000);
  const server = createLocalServer({
    routes,
    corsOrigins: config.corsOrigins,
    uploads: () => workers?.uploads,
    ready,
    ownRoutes: [{ route: localMetricsRoute, handler: localMetricsHandler(metrics) }],
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  const url = `http://${reachableHost(config.host)}:${port}`;
  try {
    // Upload URLs point at this server unless clients reach it at another address.
    workers = await startWorkers(config, config.publicUrl ?? url);
    markReady();
  } catch (error) {
    server.close();
    metrics.stop();
    stopBatching();
    await closeDb();
    await embedded?.stop();
    releaseDataDir();
    throw error;
  }
  const summary = runtimeSummary(config, {
    url,
    listen: `${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`,
    ...(embedded && { embeddedDir: embedded.dir }),
  });

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await workers?.stop();
      metrics.stop();
      stopBatching();
      await closeDb();
      await embedded?.stop();
      releaseDataDir();
    })();
    return stopping;
  };
  return { url, port, summary, scheduler: () => workers?.scheduler, stop };
}
