import {
  abortError,
  type BatchAnswer,
  isRetryableStatus,
  type LlmBatchApi,
  type LlmProvider,
  type LlmRequest,
  type LlmResponse,
  type LlmUsage,
  ProviderError,
  parseModelJson,
  parseRetryAfter,
  reasonForStatus,
  safeSchemaName,
  sanitizeDetail,
} from './provider.ts';

/** A key, or a way to get one on first use (Secrets Manager in AWS). */
export type ApiKeySource = string | (() => Promise<string | undefined>);

export type OpenAiOptions = {
  /** Up to and including the version, e.g. `https://api.openai.com/v1` or `http://localhost:11434/v1`. */
  baseUrl: string;
  /** Omit for servers without auth (Ollama, LM Studio). */
  apiKey?: ApiKeySource;
  /** Per request; the resilience wrapper has its own per attempt. */
  timeoutMs: number;
  /** Name in the registry and in results; defaults to `openai`. */
  name?: string;
};

type ChatCompletion = {
  choices?: { message?: { content?: unknown; refusal?: string | null }; finish_reason?: string }[];
  usage?: {
    prompt_tokens?: number;
    completion_tokens?: number;
    prompt_tokens_details?: { cached_tokens?: number } | null;
  };
};

/**
 * OpenAI-compatible chat completions with structured outputs (OpenAI, Ollama, vLLM, LM Studio).
 * Plain fetch rather than the `openai` SDK: one endpoint does not justify its retries and its weight.
 *
 * @example new OpenAiProvider({ baseUrl: 'http://localhost:11434/v1', timeoutMs: 60_000 })
 */
export class OpenAiProvider implements LlmProvider {
  readonly name: string;
  readonly #baseUrl: string;
  readonly #apiKey: ApiKeySource | undefined;
  readonly #timeoutMs: number;

  constructor(options: OpenAiOptions) {
    this.name = options.name ?? 'openai';
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#apiKey = options.apiKey;
    this.#timeoutMs = options.timeoutMs;
  }

  async classify(request: LlmRequest): Promise<LlmResponse> {
    const key = await this.#key();
    const completion = (await this.#send(
      'POST',
      '/chat/completions',
      key,
      request.signal,
      chatCompletionBody(request),
    )) as ChatCompletion;
    // Billed whatever the answer turns out to be: reported before any check can throw.
    const usage = openAiUsage(completion.usage);
    if (usage) await request.onUsage?.(usage);
    return readCompletion(completion, usage, key);
  }

  /** The Batch API: the same chat completion requests as JSONL through the files API (see {@link LlmBatchApi}). */
  readonly batches: LlmBatchApi = {
    submit: async (requests, metadata) => {
      const key = await this.#key();
      const earlier = await this.#findBatch(key, metadata.docsift_batch_id);
      if (earlier) return earlier;
      const jsonl = requests
        .map(({ customId, request }) =>
          JSON.stringify({
            custom_id: customId,
            method: 'POST',
            url: BATCH_ENDPOINT,
            body: chatCompletionBody(request),
          }),
        )
        .join('\n');
      const form = new FormData();
      form.set('purpose', 'batch');
      form.set('file', new Blob([`${jsonl}\n`], { type: 'application/jsonl' }), 'docsift-batch.jsonl');
      const file = (await this.#send('POST', '/files', key, undefined, form)) as { id?: unknown };
      if (typeof file.id !== 'string')
        throw new ProviderError('The provider sent no file id for the batch input', { retryable: true });
      const batch = (await this.#send('POST', '/batches', key, undefined, {
        input_file_id: file.id,
        endpoint: BATCH_ENDPOINT,
        completion_window: '24h',
        metadata,
      })) as { id?: unknown };
      if (typeof batch.id !== 'string')
        throw new ProviderError('The provider sent no batch id', { retryable: true });
      return { batchId: batch.id, inputFileId: file.id };
    },
    retrieve: async (batchId) => {
      const batch = (await this.#send(
        'GET',
        `/batches/${encodeURIComponent(batchId)}`,
        await this.#key(),
      )) as {
        status?: unknown;
        output_file_id?: unknown;
        error_file_id?: unknown;
      };
      const status = typeof batch.status === 'string' ? batch.status : 'unknown';
      return {
        status,
        done: BATCH_DONE.has(status),
        completed: status === 'completed',
        outputFileId: typeof batch.output_file_id === 'string' ? batch.output_file_id : undefined,
        errorFileId: typeof batch.error_file_id === 'string' ? batch.error_file_id : undefined,
      };
    },
    answers: async (state) => {
      const key = await this.#key();
      const answers: BatchAnswer[] = [];
      for (const fileId of [state.outputFileId, state.errorFileId]) {
        if (!fileId) continue;
        const text = await this.#text('GET', `/files/${encodeURIComponent(fileId)}/content`, key);
        for (const line of text.split('\n')) if (line.trim()) answers.push(batchAnswer(line, key));
      }
      return answers;
    },
    cancel: async (batchId) => {
      await this.#send('POST', `/batches/${encodeURIComponent(batchId)}/cancel`, await this.#key());
    },
  };

  /**
   * The batch that an earlier submission of `docsiftBatchId` created, if the provider has one:
   * its list, newest first, read back over {@link BATCH_LOOKBACK_SECONDS} (a submission is
   * retried by the next sweep, minutes later) and at most {@link BATCH_LOOKBACK_PAGES} pages.
   */
  async #findBatch(key: string | undefined, docsiftBatchId: string | undefined) {
    if (!docsiftBatchId) return undefined;
    const since = Date.now() / 1000 - BATCH_LOOKBACK_SECONDS;
    let after: string | undefined;
    for (let page = 0; page < BATCH_LOOKBACK_PAGES; page++) {
      const list = (await this.#send(
        'GET',
        `/batches?limit=100${after ? `&after=${encodeURIComponent(after)}` : ''}`,
        key,
      )) as { data?: ListedBatch[]; has_more?: boolean };
      const data = Array.isArray(list.data) ? list.data : [];
      const found = data.find((b) => b.metadata?.docsift_batch_id === docsiftBatchId);
      if (found && typeof found.id === 'string' && typeof found.input_file_id === 'string')
        return { batchId: found.id, inputFileId: found.input_file_id };
      const last = data.at(-1);
      if (!list.has_more || !last || typeof last.id !== 'string' || (last.created_at ?? 0) < since)
        return undefined;
      after = last.id;
    }
    return undefined;
  }

  /** The ids `GET /models` lists; [] when the server cannot list them (listing is a convenience). */
  async models(): Promise<string[]> {
    try {
      const list = (await this.#send('GET', '/models', await this.#key())) as { data?: { id?: unknown }[] };
      return (list.data ?? []).map((m) => m.id).filter((id): id is string => typeof id === 'string');
    } catch {
      return [];
    }
  }

  async #key(): Promise<string | undefined> {
    if (typeof this.#apiKey !== 'function') return this.#apiKey;
    try {
      return await this.#apiKey();
    } catch (cause) {
      throw new ProviderError('Could not read the provider API key', { retryable: true, cause });
    }
  }

  async #send(
    method: string,
    path: string,
    key: string | undefined,
    signal?: AbortSignal,
    body?: object,
  ): Promise<unknown> {
    const { response, text } = await this.#fetch(method, path, key, signal, body);
    try {
      return JSON.parse(text) as unknown;
    } catch (cause) {
      throw new ProviderError(`The provider sent a response that is not JSON (${response.status})`, {
        retryable: true,
        cause,
      });
    }
  }

  /** A response's body as text (a file's content is JSONL, not JSON). */
  async #text(method: string, path: string, key: string | undefined): Promise<string> {
    return (await this.#fetch(method, path, key)).text;
  }

  /** One request: a JSON body, or a form (multipart, for the files API). Throws ProviderError unless 2xx. */
  async #fetch(method: string, path: string, key: string | undefined, signal?: AbortSignal, body?: object) {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    const form = body instanceof FormData;
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.#baseUrl}${path}`, {
        method,
        headers: {
          accept: 'application/json',
          ...(body && !form ? { 'content-type': 'application/json' } : {}),
          ...(key ? { authorization: `Bearer ${key}` } : {}),
        },
        ...(body ? { body: form ? body : JSON.stringify(body) } : {}),
        signal: combined,
      });
      text = await response.text();
    } catch (cause) {
      if (combined.aborted) throw abortError(combined, cause);
      // fetch says only "fetch failed"; the code (ECONNREFUSED, ECONNRESET…) is what helps an operator.
      const code = (cause as { cause?: { code?: unknown } }).cause?.code;
      const detail = typeof code === 'string' ? ` (${code})` : '';
      throw new ProviderError(`Could not reach the provider${detail}`, { retryable: true, cause });
    }
    if (!response.ok) throw statusError(response.status, response.headers, text, key);
    return { response, text };
  }
}

/** A batch as `GET /batches` lists it: the fields an idempotent submission reads. */
type ListedBatch = {
  id?: unknown;
  input_file_id?: unknown;
  created_at?: number;
  metadata?: Record<string, string> | null;
};
/** How far back a submission looks for its own earlier batch: a day, and at most 500 batches. */
const BATCH_LOOKBACK_SECONDS = 24 * 3600;
const BATCH_LOOKBACK_PAGES = 5;
/** The endpoint every batch request goes to. */
const BATCH_ENDPOINT = '/v1/chat/completions';
/** Batch statuses after which nothing changes. */
const BATCH_DONE = new Set(['completed', 'failed', 'expired', 'cancelled']);

/** The chat completion request of a classify call: online, or as a line of a batch. */
function chatCompletionBody(request: LlmRequest) {
  return {
    model: request.model,
    messages: [{ role: 'system', content: request.system }, ...request.messages],
    response_format: {
      type: 'json_schema',
      json_schema: { name: safeSchemaName(request.schemaName), schema: request.jsonSchema, strict: true },
    },
    ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
  };
}

/** The answer in a chat completion, online or from a batch's output file. */
function readCompletion(completion: ChatCompletion, usage: LlmUsage | undefined, key: string | undefined) {
  const choice = completion.choices?.[0];
  if (!choice?.message) {
    throw new ProviderError('The provider sent an answer without a message', { retryable: true });
  }
  const { refusal } = choice.message;
  if (refusal) {
    // A refusal is the model's final word on this record; asking again would burn tokens for the same answer.
    throw new ProviderError('The model refused to answer', {
      retryable: false,
      detail: sanitizeDetail(refusal, key),
    });
  }
  const raw = contentText(choice.message.content);
  return { output: parseModelJson(raw), raw, ...(usage ? { usage } : {}) };
}

/** One line of a batch's output or error file: `{custom_id, response: {status_code, body}, error}`. */
function batchAnswer(line: string, key: string | undefined): BatchAnswer {
  let parsed: {
    custom_id?: unknown;
    response?: { status_code?: number; body?: unknown } | null;
    error?: { message?: unknown } | null;
  };
  try {
    parsed = JSON.parse(line);
  } catch {
    return {
      customId: '',
      ok: false,
      error: new ProviderError('The batch output has a line that is not JSON', { retryable: true }),
    };
  }
  const customId = typeof parsed.custom_id === 'string' ? parsed.custom_id : '';
  const status = parsed.response?.status_code ?? 0;
  const body = (parsed.response?.body ?? {}) as ChatCompletion;
  const usage = openAiUsage(body.usage);
  if (parsed.error || status < 200 || status >= 300) {
    const reason = status ? reasonForStatus(status) : 'The provider could not run this request of the batch';
    const message = parsed.error?.message ?? (body as { error?: { message?: unknown } }).error?.message;
    const error = new ProviderError(reason, {
      retryable: true,
      status,
      detail: sanitizeDetail(message, key),
    });
    return { customId, ok: false, error, ...(usage ? { usage } : {}) };
  }
  try {
    return { customId, ok: true, response: readCompletion(body, usage, key) };
  } catch (error) {
    if (!(error instanceof ProviderError)) throw error;
    return { customId, ok: false, error, ...(usage ? { usage } : {}) };
  }
}

function statusError(status: number, headers: Headers, text: string, key: string | undefined): ProviderError {
  let message: unknown = text;
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    message = typeof parsed.error === 'string' ? parsed.error : (parsed.error?.message ?? parsed.message);
  } catch {
    // Proxies answer in HTML; the status says enough.
    message = undefined;
  }
  const retryAfterMs = parseRetryAfter(headers.get('retry-after'), headers.get('retry-after-ms'));
  return new ProviderError(reasonForStatus(status), {
    retryable: isRetryableStatus(status),
    status,
    detail: sanitizeDetail(message, key),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

/** OpenAI's `usage`: `prompt_tokens` includes the cached ones (`prompt_tokens_details.cached_tokens`). */
function openAiUsage(usage: ChatCompletion['usage']): LlmUsage | undefined {
  if (!usage) return undefined;
  return {
    inputTokens: count(usage.prompt_tokens),
    cachedInputTokens: count(usage.prompt_tokens_details?.cached_tokens),
    outputTokens: count(usage.completion_tokens),
  };
}

/** A token count as a provider sent it; anything but a non-negative integer counts as 0. */
export function count(n: unknown): number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 ? n : 0;
}

/** `content` is a string in the spec; some compatible servers send text parts instead. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((part: { text?: unknown }) => (typeof part?.text === 'string' ? part.text : ''))
      .join('');
  }
  return '';
}
