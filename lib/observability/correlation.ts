import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The correlation id of the work in progress: an API request's id, carried through every queue
 * message the request causes (the `correlation_id` message attribute) and every message those
 * cause in turn. Every log line written inside carries it (lib/logger.ts), so one Logs Insights
 * query (`filter correlation_id = "…"`) follows a request through the workers.
 */
const current = new AsyncLocalStorage<string>();

/** The SQS message attribute (and pg-boss job field) that carries the id. */
export const CORRELATION_ATTRIBUTE = 'correlation_id';

/** The id of the work in progress, if any. */
export function correlationId(): string | undefined {
  return current.getStore();
}

/**
 * Runs `fn` with `id` as the correlation id of everything it does.
 *
 * @example withCorrelation(event.requestContext.requestId, () => handle(event))
 */
export function withCorrelation<R>(id: string, fn: () => R): R {
  return current.run(id, fn);
}
