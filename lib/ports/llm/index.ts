/*
 * LLM providers, configured from the environment (copy to .env.example as needed):
 *
 * # OPENAI_API_KEY=              # Bearer key for the OpenAI-compatible API; leave empty for Ollama / LM Studio
 * # OPENAI_API_KEY_SECRET_ARN=   # In AWS: Secrets Manager secret holding that key, read on first use
 * # OPENAI_BASE_URL=https://api.openai.com/v1   # Any OpenAI-compatible server, e.g. http://localhost:11434/v1
 * # OPENAI_MODELS=gpt-4o-mini    # Comma list of models offered for the openai provider
 * # BEDROCK_MODELS=              # Comma list of Bedrock model ids; setting it enables the bedrock provider
 * #                              #   (region from AWS_REGION, endpoint override AWS_ENDPOINT_URL_BEDROCK_RUNTIME)
 * # BEDROCK_BATCH_ROLE_ARN=      # Service role Bedrock batch inference assumes; with BEDROCK_BATCH_S3_URI it
 * #                              #   enables batch mode for bedrock (control-plane endpoint AWS_ENDPOINT_URL_BEDROCK)
 * # BEDROCK_BATCH_S3_URI=        # s3://bucket/prefix/ the role reads inputs from and writes outputs to (CDK: the uploads bucket)
 * # CLASSIFIER_DEFAULT_PROVIDER=openai  # Provider for jobs that name none (falls back to the first enabled)
 * # CLASSIFIER_DEFAULT_MODEL=    # Model for jobs that name none; defaults to the provider's first model
 * # LLM_CONCURRENCY=4            # Concurrent calls per provider and process
 * # LLM_MAX_ATTEMPTS=5           # Attempts per call on throttling, timeouts and server errors
 * # LLM_TIMEOUT_MS=60000         # Time limit of one attempt
 *
 * The openai provider is enabled when OPENAI_API_KEY, OPENAI_API_KEY_SECRET_ARN or OPENAI_BASE_URL is set.
 */
import * as z from 'zod';
import { deferred } from '#lib/ports/deferred.ts';
import { readSecret } from '#lib/ports/secrets/aws.ts';
import { BEDROCK_BATCH_MIN_RECORDS } from './bedrock-wire.ts';
import { type ApiKeySource, OpenAiProvider } from './openai.ts';
import { type LlmBatchApi, type LlmProvider, ProviderError } from './provider.ts';
import { RESILIENCE_DEFAULTS, withResilience } from './resilient.ts';

export { OpenAiProvider } from './openai.ts';
export type { LlmMessage, LlmProvider, LlmRequest, LlmResponse, LlmUsage } from './provider.ts';
export { ProviderError } from './provider.ts';
export { withResilience } from './resilient.ts';

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v?.trim() ? v.trim() : undefined));

/** `a, b,a` → ['a', 'b']; a list with nothing in it counts as unset. */
const commaList = optionalString.transform((v) => {
  const items = [...new Set((v ?? '').split(',').map((m) => m.trim()))].filter(Boolean);
  return items.length > 0 ? items : undefined;
});

const positiveInt = (max: number) =>
  optionalString
    .transform((v) => (v === undefined ? undefined : Number(v)))
    .pipe(z.number().int().min(1).max(max).optional());

const llmEnvSchema = z.object({
  OPENAI_API_KEY: optionalString,
  OPENAI_API_KEY_SECRET_ARN: optionalString,
  OPENAI_BASE_URL: optionalString.pipe(z.url({ protocol: /^https?$/ }).optional()),
  OPENAI_MODELS: commaList,
  BEDROCK_MODELS: commaList,
  BEDROCK_BATCH_ROLE_ARN: optionalString.pipe(z.string().startsWith('arn:').optional()),
  BEDROCK_BATCH_S3_URI: optionalString.pipe(
    z
      .string()
      .regex(/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/, 's3://bucket/prefix/')
      .optional(),
  ),
  AWS_REGION: optionalString,
  CLASSIFIER_DEFAULT_PROVIDER: optionalString,
  CLASSIFIER_DEFAULT_MODEL: optionalString,
  LLM_CONCURRENCY: positiveInt(256),
  LLM_MAX_ATTEMPTS: positiveInt(20),
  LLM_TIMEOUT_MS: positiveInt(15 * 60_000),
});

/** One provider as clients may see it: never a key or a URL. */
export type ProviderInfo = { name: string; models: string[]; default: boolean };

/** The configured providers, each already wrapped with {@link withResilience}. */
export type LlmProviders = {
  providers: Map<string, LlmProvider>;
  /** For API responses: names and models only. */
  list(): ProviderInfo[];
  /** Undefined when no provider is configured. */
  defaultProvider: string | undefined;
  defaultModel: string | undefined;
  /** The provider called `name`; throws a ProviderError whose reason suits an item's failure. */
  get(name: string): LlmProvider;
};

/** Thrown when the LLM variables do not describe a usable setup. */
export class LlmConfigError extends Error {
  override name = 'LlmConfigError';
}

/**
 * Builds the providers the environment describes. Pure apart from the lazily read secret.
 *
 * @example providersFromEnv({ OPENAI_BASE_URL: 'http://localhost:11434/v1', OPENAI_MODELS: 'llama3.2' })
 */
export function providersFromEnv(env: Record<string, string | undefined> = process.env): LlmProviders {
  const parsed = llmEnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new LlmConfigError(`Invalid LLM configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const resilience = {
    concurrency: e.LLM_CONCURRENCY,
    maxAttempts: e.LLM_MAX_ATTEMPTS,
    timeoutMs: e.LLM_TIMEOUT_MS,
  };
  const timeoutMs = e.LLM_TIMEOUT_MS ?? RESILIENCE_DEFAULTS.timeoutMs;
  const providers = new Map<string, LlmProvider>();
  const models = new Map<string, string[]>();

  if (e.OPENAI_API_KEY || e.OPENAI_API_KEY_SECRET_ARN || e.OPENAI_BASE_URL) {
    const adapter = new OpenAiProvider({
      baseUrl: e.OPENAI_BASE_URL ?? 'https://api.openai.com/v1',
      apiKey: apiKeySource(e.OPENAI_API_KEY, e.OPENAI_API_KEY_SECRET_ARN),
      timeoutMs,
    });
    providers.set(adapter.name, withResilience(adapter, resilience));
    models.set(adapter.name, e.OPENAI_MODELS ?? ['gpt-4o-mini']);
  }
  if (Boolean(e.BEDROCK_BATCH_ROLE_ARN) !== Boolean(e.BEDROCK_BATCH_S3_URI)) {
    throw new LlmConfigError(
      'Bedrock batch inference needs both BEDROCK_BATCH_ROLE_ARN and BEDROCK_BATCH_S3_URI (or neither)',
    );
  }
  if (e.BEDROCK_MODELS) {
    const options = e.AWS_REGION ? { region: e.AWS_REGION } : {};
    // The Bedrock clients are imported by the first call: the routes and the task dispatcher
    // build this registry to check providers and models, and never call one.
    const { BEDROCK_BATCH_ROLE_ARN: roleArn, BEDROCK_BATCH_S3_URI: s3Uri } = e;
    const batches = roleArn && s3Uri ? bedrockBatches(roleArn, s3Uri, options) : undefined;
    const adapter: LlmProvider = {
      name: 'bedrock',
      ...deferred<LlmProvider>(async () => new (await import('./bedrock.ts')).BedrockProvider(options), {
        classify: true,
      }),
      ...(batches ? { batches } : {}),
    };
    providers.set(adapter.name, withResilience(adapter, resilience));
    models.set(adapter.name, e.BEDROCK_MODELS);
  }

  const defaultProvider =
    e.CLASSIFIER_DEFAULT_PROVIDER ?? (providers.has('openai') ? 'openai' : first(providers));
  if (defaultProvider !== undefined && !providers.has(defaultProvider)) {
    throw new LlmConfigError(
      `CLASSIFIER_DEFAULT_PROVIDER is "${defaultProvider}", which is not configured (configured: ${[...providers.keys()].join(', ') || 'none'})`,
    );
  }
  const defaultModels = defaultProvider ? (models.get(defaultProvider) ?? []) : [];
  const defaultModel = e.CLASSIFIER_DEFAULT_MODEL ?? defaultModels[0];
  // A default model outside the list would be a default no client can pick; list it first instead.
  if (defaultProvider && defaultModel && !defaultModels.includes(defaultModel)) {
    models.set(defaultProvider, [defaultModel, ...defaultModels]);
  }

  return {
    providers,
    defaultProvider,
    defaultModel,
    list: () =>
      [...providers.keys()].map((name) => ({
        name,
        models: [...(models.get(name) ?? [])],
        default: name === defaultProvider,
      })),
    get(name) {
      const provider = providers.get(name);
      if (!provider) {
        throw new ProviderError(`The LLM provider "${name}" is not configured`, { retryable: false });
      }
      return provider;
    },
  };
}

/**
 * Bedrock batch inference, its SDK clients (Bedrock's control plane, S3) imported by its first call.
 * `s3Uri` is `s3://bucket/prefix/`: inputs go under `prefix/input/`, Bedrock writes under `prefix/output/`.
 */
function bedrockBatches(roleArn: string, s3Uri: string, options: { region?: string }): LlmBatchApi {
  const [bucket = '', ...path] = s3Uri.slice('s3://'.length).split('/');
  const prefix = path
    .filter(Boolean)
    .map((p) => `${p}/`)
    .join('');
  return {
    minRequests: BEDROCK_BATCH_MIN_RECORDS,
    ...deferred<LlmBatchApi>(
      async () => {
        const { S3ObjectStore } = await import('#lib/ports/objects/s3.ts');
        const { BedrockBatches } = await import('./bedrock-batch.ts');
        return new BedrockBatches({ ...options, roleArn, bucket, prefix, files: new S3ObjectStore(bucket) });
      },
      { submit: true, retrieve: true, answers: true, cancel: true },
    ),
  };
}

/**
 * The key as given, or read from Secrets Manager on first use (not at start: a cold start of a function
 * that never classifies should not pay for it). The secret is the key itself or JSON with OPENAI_API_KEY.
 */
function apiKeySource(key: string | undefined, secretArn: string | undefined): ApiKeySource | undefined {
  if (key || !secretArn) return key;
  return async () => {
    const value = (await readSecret(secretArn)).trim();
    if (!value.startsWith('{')) return value;
    const parsed = JSON.parse(value) as { OPENAI_API_KEY?: unknown; apiKey?: unknown };
    const fromJson = parsed.OPENAI_API_KEY ?? parsed.apiKey;
    if (typeof fromJson !== 'string') throw new Error('The secret has no OPENAI_API_KEY field');
    return fromJson;
  };
}

function first<K>(map: Map<K, unknown>): K | undefined {
  return map.keys().next().value;
}
