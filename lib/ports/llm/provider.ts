/** One turn of the conversation after the system prompt (repair turns are `assistant` + `user`). */
export type LlmMessage = { role: 'user' | 'assistant'; content: string };

/** What the classifier asks a model: answer `messages` with one JSON object matching `jsonSchema`. */
export type LlmRequest = {
  model: string;
  system: string;
  messages: LlmMessage[];
  /** A JSON Schema (draft 2020-12, as `z.toJSONSchema` emits) the answer must match. */
  jsonSchema: object;
  /** Names the schema for the provider (OpenAI `json_schema.name`, Bedrock tool name). */
  schemaName: string;
  temperature?: number;
  /** Aborts the call, in flight or waiting: the work it was for is no longer wanted. */
  signal?: AbortSignal;
  /**
   * Asked right before every attempt (after the wait for a concurrency slot and each backoff):
   * false ends the call as cancelled without sending it.
   */
  stillWanted?: () => Promise<boolean>;
  /**
   * Told the usage of every attempt the provider billed, retries and unusable answers included
   * (a refusal, an answer without a message): the adapter awaits it as soon as it reads the
   * usage, inside the call (and so inside its concurrency slot).
   */
  onUsage?: (usage: LlmUsage) => void | Promise<void>;
};

/**
 * Tokens one provider call used. `inputTokens` counts every input token, those served from the
 * provider's prompt cache included; `cachedInputTokens` is that cached part (billed cheaper).
 */
export type LlmUsage = { inputTokens: number; cachedInputTokens: number; outputTokens: number };

/** The model's answer, not yet validated: checking `output` against the schema is the caller's job. */
export type LlmResponse = {
  /** The parsed JSON the model produced; null when its answer was not JSON. */
  output: unknown;
  /** The answer as text, for failure reports and repair prompts. */
  raw: string;
  usage?: LlmUsage;
};

/** A model behind some wire protocol: OpenAI-compatible chat completions, Bedrock Converse, a fake. */
export interface LlmProvider {
  readonly name: string;
  /** Asks the model once. Throws {@link ProviderError} when no answer came back. */
  classify(request: LlmRequest): Promise<LlmResponse>;
  /** The models the provider says it serves, where the protocol can list them; [] when it cannot. */
  models?(): Promise<string[]>;
  /** Its batch API (half price, answers within a day), where it has one. */
  readonly batches?: LlmBatchApi;
}

/** One request of a batch: the same request an online call makes, named by `customId`. */
export type BatchRequest = { customId: string; request: LlmRequest };

/** One answer of a finished batch, by the `customId` of its request: the answer, or why there is none. */
export type BatchAnswer = { customId: string } & (
  | { ok: true; response: LlmResponse }
  | { ok: false; error: ProviderError; usage?: LlmUsage }
);

/** A provider batch as the provider reports it. */
export type BatchState = {
  /**
   * The provider's status, in snake case: OpenAI's validating, in_progress, finalizing, completed,
   * failed, expired, cancelling, cancelled; Bedrock's submitted, validating, scheduled,
   * in_progress, completed, partially_completed, failed, stopping, stopped, expired.
   */
  status: string;
  /** True once it will change no more (completed, failed, expired, cancelled). */
  done: boolean;
  /** Done and run to its end (its requests answered, some perhaps with error lines), not failed, expired or cancelled. */
  completed: boolean;
  /** Where its answers are: a file id (OpenAI) or an object key (Bedrock, in S3). */
  outputFileId?: string | undefined;
  errorFileId?: string | undefined;
};

/**
 * A provider's asynchronous batch API: upload the requests, create the batch, look at it, read
 * its answers, cancel it. Throws {@link ProviderError} as `classify` does.
 */
export interface LlmBatchApi {
  /**
   * The fewest requests the provider accepts in one batch (Bedrock: 100); a batch with fewer
   * is never submitted, and its items go online.
   */
  readonly minRequests?: number;
  /**
   * Uploads the requests and creates the batch; `metadata` goes with it. Idempotent by
   * `metadata.docsift_batch_id`: when the provider already holds a batch of that id (an earlier
   * submission whose answer was lost to a crash or a dropped connection), that batch is answered
   * and nothing is created, so a retried submission is never paid twice.
   */
  submit(
    requests: BatchRequest[],
    metadata: Record<string, string>,
  ): Promise<{ batchId: string; inputFileId: string }>;
  retrieve(batchId: string): Promise<BatchState>;
  /** The answers of a finished batch: its output and error files, read and parsed. */
  answers(state: BatchState): Promise<BatchAnswer[]>;
  cancel(batchId: string): Promise<void>;
}

export type ProviderErrorOptions = {
  retryable: boolean;
  status?: number;
  /** How long the provider asked us to wait (Retry-After), in milliseconds. */
  retryAfterMs?: number;
  /** What the provider said, already redacted: for logs only, never for users. */
  detail?: string | undefined;
  cause?: unknown;
};

/**
 * A call to a provider that produced no answer. `reason` is short, user-facing and ours alone: it
 * becomes an item's failure reason as is, so it never quotes the provider (whose text may echo the
 * key in any spelling). What the provider said goes to `detail`, redacted, for the logs.
 *
 * @example throw new ProviderError('Rate limited by the provider (429)', { retryable: true, status: 429 })
 */
export class ProviderError extends Error {
  override name = 'ProviderError';
  readonly reason: string;
  readonly retryable: boolean;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  readonly detail: string | undefined;

  constructor(reason: string, options: ProviderErrorOptions) {
    super(reason, { cause: options.cause });
    this.reason = reason;
    this.retryable = options.retryable;
    this.status = options.status;
    this.retryAfterMs = options.retryAfterMs;
    this.detail = options.detail;
  }
}

/**
 * The user-facing reason for an HTTP status, shared by the adapters so failures read alike. It
 * classifies and never quotes: providers echo the rejected key, in whatever case or spacing.
 */
export function reasonForStatus(status: number): string {
  if (status === 401) return 'The provider refused the API key';
  if (status === 403) return 'The provider denied access (403)';
  if (status === 404) return 'The provider does not know this model or endpoint (404)';
  if (status === 408) return 'The provider timed out (408)';
  if (status === 429) return 'Rate limited by the provider (429)';
  if (status === 503) return 'The provider is unavailable (503)';
  if (status >= 500) return `The provider failed (${status})`;
  return `The provider rejected the request (${status})`;
}

/** Statuses worth another try: throttling, timeouts and server faults. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

/**
 * Parses `Retry-After` (delta seconds or an HTTP date) and OpenAI's `retry-after-ms` into milliseconds.
 *
 * @example parseRetryAfter('2') // 2000
 */
export function parseRetryAfter(
  retryAfter: string | null | undefined,
  retryAfterMs?: string | null,
  now = Date.now(),
): number | undefined {
  const ms = Number(retryAfterMs);
  if (retryAfterMs && Number.isFinite(ms) && ms >= 0) return ms;
  if (!retryAfter) return undefined;
  const seconds = Number(retryAfter);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds * 1000 : undefined;
  const date = Date.parse(retryAfter);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * Keeps a provider's error message short and without secrets, for the logs. Removes `secret`
 * where given in any case and with any spacing or punctuation between its characters (providers
 * echo keys reformatted), its long fragments (masked echoes like `sk-abc***xyz`), and anything
 * shaped like an API key.
 */
export function sanitizeDetail(message: unknown, secret?: string): string | undefined {
  if (typeof message !== 'string' || message.trim() === '') return undefined;
  let text = message.replace(/\s+/g, ' ').trim();
  if (secret && secret.length >= 4) {
    const loose = (chars: string) => [...chars].map(escapeRegExp).join('[\\s._*-]*');
    text = text.replace(new RegExp(loose(secret), 'gi'), '[redacted]');
    // Any run of eight characters of the key: what a masked echo keeps of it.
    for (let i = 0; i + 8 <= secret.length; i++) {
      text = text.replace(new RegExp(loose(secret.slice(i, i + 8)), 'gi'), '[redacted]');
    }
  }
  text = text.replace(/\b(sk|key|gsk|xai)[-_][A-Za-z0-9_*.-]{6,}/gi, '[redacted]');
  text = text.replace(/\bbearer\s+\S+/gi, 'Bearer [redacted]');
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

function escapeRegExp(char: string): string {
  return char.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Parses a model's text answer as JSON, tolerating a Markdown fence or prose around one object.
 * Returns null when there is no JSON to be had: the caller's repair turn deals with that.
 */
export function parseModelJson(text: string): unknown {
  const candidates = [text.trim()];
  const fenced = /```(?:json)?\s*\n?([\s\S]*?)```/i.exec(text);
  if (fenced?.[1]) candidates.push(fenced[1].trim());
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  if (start >= 0 && end > start) candidates.push(text.slice(start, end + 1));
  for (const candidate of candidates) {
    try {
      return JSON.parse(candidate) as unknown;
    } catch {
      // Try the next, looser reading.
    }
  }
  return null;
}

/** Provider tool and schema names allow `[a-zA-Z0-9_-]{1,64}` only. */
export function safeSchemaName(name: string): string {
  return name.replace(/[^a-zA-Z0-9_-]+/g, '_').slice(0, 64) || 'result';
}

/**
 * Turns an aborted call into the right error: our own timeout is worth retrying, the caller's cancel is not.
 * `signal` is the one the adapter passed down.
 */
export function abortError(signal: AbortSignal | undefined, cause: unknown): ProviderError {
  const reason: unknown = signal?.reason;
  if (reason instanceof Error && reason.name === 'TimeoutError') {
    return new ProviderError('The provider did not answer in time', { retryable: true, cause });
  }
  return new ProviderError('The request was cancelled', { retryable: false, cause });
}
