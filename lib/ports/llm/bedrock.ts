import {
  BedrockRuntimeClient,
  type ContentBlock,
  ConverseCommand,
  type ConverseCommandOutput,
  type ToolInputSchema,
} from '@aws-sdk/client-bedrock-runtime';
import { count } from './openai.ts';
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

export type BedrockOptions = {
  /** Defaults to the SDK's (AWS_REGION). */
  region?: string;
  /** Overrides the service endpoint; the SDK also honours AWS_ENDPOINT_URL_BEDROCK_RUNTIME and AWS_ENDPOINT_URL. */
  endpoint?: string;
  /** Name in the registry and in results; defaults to `bedrock`. */
  name?: string;
};

/** Error names that mean "try again later" whatever status came with them. */
const RETRYABLE_NAMES = new Set([
  'ThrottlingException',
  'ModelNotReadyException',
  'ModelTimeoutException',
  'InternalServerException',
  'ServiceUnavailableException',
]);

/** Error names that mean the AWS credentials, not the request, are at fault. */
const CREDENTIAL_NAMES = new Set([
  'UnrecognizedClientException',
  'InvalidSignatureException',
  'ExpiredTokenException',
  'CredentialsProviderError',
]);

/**
 * Amazon Bedrock through the Converse API. Structured output comes from a forced tool call whose input
 * schema is the classification schema: Converse has no JSON mode, but every tool-capable model fills tools.
 *
 * @example new BedrockProvider({ region: 'eu-west-1' })
 */
export class BedrockProvider implements LlmProvider {
  readonly name: string;
  readonly #client: BedrockRuntimeClient;

  constructor(options: BedrockOptions = {}) {
    this.name = options.name ?? 'bedrock';
    this.#client = new BedrockRuntimeClient({
      ...(options.region ? { region: options.region } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      // The resilience wrapper owns retries; SDK retries inside it would multiply the attempts.
      maxAttempts: 1,
    });
  }

  async classify(request: LlmRequest): Promise<LlmResponse> {
    const toolName = safeSchemaName(request.schemaName);
    const command = new ConverseCommand({
      modelId: request.model,
      system: [{ text: request.system }],
      messages: request.messages.map((m) => ({ role: m.role, content: [{ text: m.content }] })),
      ...(request.temperature === undefined ? {} : { inferenceConfig: { temperature: request.temperature } }),
      toolConfig: {
        tools: [
          {
            toolSpec: {
              name: toolName,
              description: 'Record the classification of the record.',
              inputSchema: { json: request.jsonSchema } as ToolInputSchema,
            },
          },
        ],
        toolChoice: { tool: { name: toolName } },
      },
    });
    let response: ConverseCommandOutput;
    try {
      response = await this.#client.send(command, { abortSignal: request.signal });
    } catch (error) {
      throw toProviderError(error, request.signal);
    }
    const usage = bedrockUsage(response.usage);
    if (usage) await request.onUsage?.(usage);
    return toResponse(response, usage);
  }
}

/**
 * Converse's `usage`: `inputTokens` leaves out the tokens read from or written to the prompt
 * cache, so they are added back (ours counts every input token, the cached ones included).
 */
function bedrockUsage(usage: ConverseCommandOutput['usage']): LlmUsage | undefined {
  if (!usage) return undefined;
  const cached = count(usage.cacheReadInputTokens);
  return {
    inputTokens: count(usage.inputTokens) + cached + count(usage.cacheWriteInputTokens),
    cachedInputTokens: cached,
    outputTokens: count(usage.outputTokens),
  };
}

function toResponse(response: ConverseCommandOutput, llmUsage: LlmUsage | undefined): LlmResponse {
  const blocks: ContentBlock[] = response.output?.message?.content ?? [];
  const usage = llmUsage ? { usage: llmUsage } : {};
  const tool = blocks.find((b) => b.toolUse)?.toolUse;
  if (tool) return { output: tool.input ?? null, raw: JSON.stringify(tool.input ?? null), ...usage };
  // A model that ignored the tool may still have written JSON as text; the caller's repair turn handles the rest.
  const raw = blocks.map((b) => b.text ?? '').join('');
  return { output: parseModelJson(raw), raw, ...usage };
}

type SdkError = {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
};

function toProviderError(error: unknown, signal: AbortSignal | undefined): ProviderError {
  if (signal?.aborted) return abortError(signal, error);
  const e = (error ?? {}) as SdkError;
  const name = e.name ?? '';
  const status = e.$metadata?.httpStatusCode;
  if (CREDENTIAL_NAMES.has(name)) {
    return new ProviderError('AWS credentials for Bedrock are missing or were rejected', {
      retryable: false,
      cause: error,
      ...(status ? { status } : {}),
    });
  }
  if (status === undefined) {
    // No HTTP response at all: the connection failed before Bedrock could answer.
    return new ProviderError('Could not reach the provider', { retryable: true, cause: error });
  }
  const retryable = RETRYABLE_NAMES.has(name) || isRetryableStatus(status);
  const effective = name === 'ThrottlingException' ? 429 : status;
  const headers = e.$response?.headers ?? {};
  const retryAfterMs = parseRetryAfter(headers['retry-after']);
  return new ProviderError(reasonForStatus(effective), {
    retryable,
    status,
    detail: sanitizeDetail(e.message),
    cause: error,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}
