import type {
  ContentBlock,
  ConverseCommandInput,
  ConverseCommandOutput,
  ToolInputSchema,
} from '@aws-sdk/client-bedrock-runtime';
import { count } from './openai.ts';
import {
  abortError,
  isRetryableStatus,
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

/*
 * What the Bedrock adapters share: the Converse format, used by the online adapter (bedrock.ts,
 * ConverseCommand) and by batch inference (bedrock-batch.ts, whose jobs of invocation type
 * `Converse` take the same request body as each line's `modelInput` and give the same response
 * body as its `modelOutput`), and the SDK's errors turned into ProviderErrors. Types only from
 * the SDK: importing this loads no client.
 */

/**
 * The fewest records Bedrock takes in a batch inference job (its quota "Minimum number of
 * records per batch inference job": 100 when this was written).
 */
export const BEDROCK_BATCH_MIN_RECORDS = 100;

/** A Converse request body without its model (which the path, or the batch job, names). */
export type ConverseBody = Omit<ConverseCommandInput, 'modelId'>;

/**
 * The Converse request of a classify call. Structured output comes from a forced tool call whose
 * input schema is the classification schema: Converse has no JSON mode, but every tool-capable
 * model fills tools.
 */
export function converseBody(request: LlmRequest): ConverseBody {
  const toolName = safeSchemaName(request.schemaName);
  return {
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
  };
}

/** What a Converse response holds that docsift reads: online (the SDK's output) or a batch line's `modelOutput`. */
export type ConverseAnswer = Pick<ConverseCommandOutput, 'output' | 'usage'>;

/**
 * Converse's `usage`: `inputTokens` leaves out the tokens read from or written to the prompt
 * cache, so they are added back (ours counts every input token, the cached ones included).
 */
export function converseUsage(usage: ConverseAnswer['usage']): LlmUsage | undefined {
  if (!usage) return undefined;
  const cached = count(usage.cacheReadInputTokens);
  return {
    inputTokens: count(usage.inputTokens) + cached + count(usage.cacheWriteInputTokens),
    cachedInputTokens: cached,
    outputTokens: count(usage.outputTokens),
  };
}

/** The answer in a Converse response: the forced tool's input, or JSON the model wrote as text. */
export function converseResponse(response: ConverseAnswer, llmUsage: LlmUsage | undefined): LlmResponse {
  const blocks: ContentBlock[] = response.output?.message?.content ?? [];
  const usage = llmUsage ? { usage: llmUsage } : {};
  const tool = blocks.find((b) => b.toolUse)?.toolUse;
  if (tool) return { output: tool.input ?? null, raw: JSON.stringify(tool.input ?? null), ...usage };
  // A model that ignored the tool may still have written JSON as text; the caller's repair turn handles the rest.
  const raw = blocks.map((b) => b.text ?? '').join('');
  return { output: parseModelJson(raw), raw, ...usage };
}

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

type SdkError = {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { headers?: Record<string, string | undefined> };
};

export function toProviderError(error: unknown, signal: AbortSignal | undefined): ProviderError {
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
