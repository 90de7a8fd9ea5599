import {
  abortError,
  isRetryableStatus,
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
    const body = {
      model: request.model,
      messages: [{ role: 'system', content: request.system }, ...request.messages],
      response_format: {
        type: 'json_schema',
        json_schema: { name: safeSchemaName(request.schemaName), schema: request.jsonSchema, strict: true },
      },
      ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
    };
    const completion = (await this.#send(
      'POST',
      '/chat/completions',
      key,
      request.signal,
      body,
    )) as ChatCompletion;
    // Billed whatever the answer turns out to be: reported before any check can throw.
    const usage = openAiUsage(completion.usage);
    if (usage) await request.onUsage?.(usage);
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

  async #send(method: string, path: string, key: string | undefined, signal?: AbortSignal, body?: object) {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.#baseUrl}${path}`, {
        method,
        headers: {
          accept: 'application/json',
          ...(body ? { 'content-type': 'application/json' } : {}),
          ...(key ? { authorization: `Bearer ${key}` } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
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
    if (!response.ok) throw statusError(response, text, key);
    try {
      return JSON.parse(text) as unknown;
    } catch (cause) {
      throw new ProviderError(`The provider sent a response that is not JSON (${response.status})`, {
        retryable: true,
        cause,
      });
    }
  }
}

function statusError(response: Response, text: string, key: string | undefined): ProviderError {
  let message: unknown = text;
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    message = typeof parsed.error === 'string' ? parsed.error : (parsed.error?.message ?? parsed.message);
  } catch {
    // Proxies answer in HTML; the status says enough.
    message = undefined;
  }
  const { status } = response;
  const retryAfterMs = parseRetryAfter(
    response.headers.get('retry-after'),
    response.headers.get('retry-after-ms'),
  );
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
