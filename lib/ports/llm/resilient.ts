import { setTimeout as delay } from 'node:timers/promises';
import pLimit from 'p-limit';
import { recordMetric } from '#lib/observability/metrics.ts';
import { type LlmProvider, type LlmRequest, type LlmResponse, ProviderError } from './provider.ts';

export type ResilienceOptions = {
  /** Attempts per call, the first included. */
  maxAttempts?: number;
  /** The first backoff's ceiling; each retry doubles it (full jitter picks 0..ceiling). */
  baseDelayMs?: number;
  /** No wait is longer, whatever Retry-After asks. */
  maxDelayMs?: number;
  /** Per attempt, not per call. */
  timeoutMs?: number;
  /** Calls in progress at once through this wrapper (per process). */
  concurrency?: number;
  /** Injectable for tests; must reject when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Injectable for tests; returns [0, 1). */
  random?: () => number;
};

export const RESILIENCE_DEFAULTS = {
  maxAttempts: 5,
  baseDelayMs: 500,
  maxDelayMs: 20_000,
  timeoutMs: 60_000,
  concurrency: 4,
} as const;

const defaultSleep = (ms: number, signal?: AbortSignal) => delay(ms, undefined, { signal });

/**
 * Wraps a provider with what every provider needs: a cap on concurrent calls, a timeout per attempt,
 * and retries of retryable failures with exponential backoff, full jitter and Retry-After.
 * Answers that are not valid JSON are not its business: they are answers, and the caller repairs them.
 *
 * @example const openai = withResilience(new OpenAiProvider(options), { concurrency: 8 })
 */
export function withResilience(provider: LlmProvider, options: ResilienceOptions = {}): LlmProvider {
  const o = { ...RESILIENCE_DEFAULTS, sleep: defaultSleep, random: Math.random, ...definedOnly(options) };
  // The slot is held through the backoff too: under a rate limit the queued calls then wait instead of
  // joining the stampede, which is the backpressure a 429 asks for.
  const limit = pLimit(o.concurrency);

  async function attempt(request: LlmRequest): Promise<LlmResponse> {
    const timeout = new AbortController();
    const timer = setTimeout(
      () => timeout.abort(new DOMException('attempt timed out', 'TimeoutError')),
      o.timeoutMs,
    );
    const signal = request.signal ? AbortSignal.any([request.signal, timeout.signal]) : timeout.signal;
    // Racing the signal keeps the timeout honest even for an adapter that ignores it.
    const aborted = new Promise<never>((_, reject) => {
      const onAbort = () =>
        reject(
          timeout.signal.aborted
            ? new ProviderError(`The provider did not answer within ${seconds(o.timeoutMs)}`, {
                retryable: true,
              })
            : cancelled(request.signal?.reason),
        );
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    const started = performance.now();
    const dims = { provider: provider.name, model: request.model };
    try {
      return await Promise.race([
        provider.classify({ ...request, signal, onUsage: counted(request) }),
        aborted,
      ]);
    } catch (error) {
      if (error instanceof ProviderError && error.status === 429) recordMetric('ProviderThrottles', dims);
      throw error;
    } finally {
      clearTimeout(timer);
      recordMetric('ProviderLatency', dims, performance.now() - started);
    }
  }

  /** The request's usage callback, counting the tokens of every billed attempt first. */
  function counted(request: LlmRequest): LlmRequest['onUsage'] {
    const dims = { provider: provider.name, model: request.model };
    return (usage) => {
      recordMetric('InputTokens', dims, usage.inputTokens);
      recordMetric('CachedInputTokens', dims, usage.cachedInputTokens);
      recordMetric('OutputTokens', dims, usage.outputTokens);
      return request.onUsage?.(usage);
    };
  }

  /** One call with its retries, counted: a call, and a failure when no answer came (a cancel is neither). */
  async function observed(request: LlmRequest): Promise<LlmResponse> {
    const dims = { provider: provider.name, model: request.model };
    try {
      const response = await classify(request);
      recordMetric('ProviderCalls', dims);
      return response;
    } catch (error) {
      if (!isCancel(error, request)) {
        recordMetric('ProviderCalls', dims);
        recordMetric('ProviderFailures', dims);
      }
      throw error;
    }
  }

  async function classify(request: LlmRequest): Promise<LlmResponse> {
    for (let n = 1; ; n++) {
      // Checked here, after the wait for a slot or a backoff, so a cancel made meanwhile holds.
      if (request.signal?.aborted) throw cancelled(request.signal.reason);
      if (request.stillWanted && !(await request.stillWanted())) throw cancelled('no longer wanted');
      try {
        return await attempt(request);
      } catch (error) {
        if (!(error instanceof ProviderError) || !error.retryable || request.signal?.aborted) throw error;
        if (n >= o.maxAttempts) {
          throw new ProviderError(`${error.reason} after ${n} attempt${n === 1 ? '' : 's'}`, {
            retryable: true,
            status: error.status,
            detail: error.detail,
            cause: error,
          });
        }
        recordMetric('ProviderRetries', { provider: provider.name, model: request.model });
        const backoff = o.random() * Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** (n - 1));
        const wait = Math.min(o.maxDelayMs, Math.max(error.retryAfterMs ?? 0, backoff));
        try {
          await o.sleep(wait, request.signal);
        } catch (cause) {
          throw cancelled(cause);
        }
      }
    }
  }

  return {
    name: provider.name,
    classify: (request) => limit(() => observed(request)),
    ...(provider.models ? { models: () => provider.models!() } : {}),
    // Batch calls are few and each one's message is redelivered on failure: no retries of its own.
    ...(provider.batches ? { batches: provider.batches } : {}),
  };
}

/** A call ended by its caller (cancelled, no longer wanted), not by the provider. */
function isCancel(error: unknown, request: LlmRequest): boolean {
  return (
    Boolean(request.signal?.aborted) ||
    (error instanceof ProviderError && !error.retryable && error.reason === 'The request was cancelled')
  );
}

function cancelled(cause: unknown): ProviderError {
  return new ProviderError('The request was cancelled', { retryable: false, cause });
}

function seconds(ms: number): string {
  return ms >= 1000 ? `${Math.round(ms / 100) / 10} s` : `${ms} ms`;
}

/** `{ maxAttempts: undefined }` from an unset env variable must not erase the default. */
function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}
