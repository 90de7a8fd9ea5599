import { ArnFormat, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { pricesFromEnv } from '#lib/classify/prices.ts';

/**
 * Concurrent calls per provider and process, unless configured: lib/ports/llm/resilient.ts's
 * default, stated here because the bound on the provider is this times the classify worker's
 * maximum concurrency (and the API's few calls).
 */
export const DEFAULT_LLM_CONCURRENCY = 4;

/** The LLM providers offered to classification jobs (parsed by lib/ports/llm/index.ts). */
export interface LlmSettings {
  /** Base URL of the OpenAI-compatible API (OPENAI_BASE_URL). Default the app's: https://api.openai.com/v1. */
  openaiBaseUrl?: string;
  /** Models offered for the openai provider (OPENAI_MODELS). Default the app's: gpt-4o-mini. */
  openaiModels?: string[];
  /**
   * Bedrock foundation-model ids (BEDROCK_MODELS); setting any enables the bedrock provider and
   * grants the classify worker bedrock:InvokeModel on those models in the stack's region.
   */
  bedrockModels?: string[];
  /** Provider of jobs that name none (CLASSIFIER_DEFAULT_PROVIDER). Default openai. */
  classifierDefaultProvider?: 'openai' | 'bedrock';
  /** Model of jobs that name none (CLASSIFIER_DEFAULT_MODEL). Default the provider's first. */
  classifierDefaultModel?: string;
  /** Concurrent LLM calls per provider and process (LLM_CONCURRENCY). Default 4. */
  llmConcurrency?: number;
  /** Prices over the app's dated defaults (LLM_PRICES), JSON as lib/classify/prices.ts reads it; checked at synth. */
  llmPrices?: string;
}

/**
 * The LLM configuration shared by the classify worker and the API: the secret holding the
 * OpenAI-compatible API key, and the provider settings as environment variables.
 *
 * The secret is created with a generated placeholder, in the JSON shape the app accepts
 * (`{"OPENAI_API_KEY": …}`); the operator puts the real key in it after the first deploy,
 * either as the key itself or as that JSON. CloudFormation generates the value only when it
 * creates the secret, so later deploys keep the operator's key (as long as the generator
 * settings below are left alone). Because the secret always exists, the openai provider is
 * always enabled in AWS.
 */
export class Llm extends Construct {
  readonly openaiApiKey: secretsmanager.Secret;
  private readonly settings: LlmSettings;

  constructor(scope: Construct, id: string, settings: LlmSettings = {}) {
    super(scope, id);
    this.settings = settings;
    // A bad price table would otherwise surface first in the workers' retries.
    if (settings.llmPrices) pricesFromEnv({ LLM_PRICES: settings.llmPrices });
    if (settings.classifierDefaultProvider === 'bedrock' && !settings.bedrockModels?.length) {
      throw new Error('classifierDefaultProvider is bedrock, but bedrockModels is empty: set bedrockModels');
    }

    this.openaiApiKey = new secretsmanager.Secret(this, 'OpenAiApiKey', {
      description:
        'docsift: API key of the OpenAI-compatible LLM provider. Created with a placeholder: put the key (or {"OPENAI_API_KEY": "..."}) here.',
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ placeholder: 'replace this secret with the API key' }),
        generateStringKey: 'OPENAI_API_KEY',
        excludePunctuation: true,
        passwordLength: 32,
      },
    });
    Validations.of(this.openaiApiKey).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The key is issued by the LLM provider, not by Secrets Manager: it is rotated at the provider and the new key put here; a rotation Lambda would need each provider’s key-management API.',
    });
  }

  /** The provider settings and the key's secret, as lib/ports/llm/index.ts reads them. Unset ones are left out. */
  environment(): Record<string, string> {
    const s = this.settings;
    const optional = {
      OPENAI_BASE_URL: s.openaiBaseUrl,
      OPENAI_MODELS: s.openaiModels?.join(','),
      BEDROCK_MODELS: s.bedrockModels?.join(','),
      CLASSIFIER_DEFAULT_PROVIDER: s.classifierDefaultProvider,
      CLASSIFIER_DEFAULT_MODEL: s.classifierDefaultModel,
      LLM_PRICES: s.llmPrices,
    };
    return {
      OPENAI_API_KEY_SECRET_ARN: this.openaiApiKey.secretArn,
      LLM_CONCURRENCY: String(s.llmConcurrency ?? DEFAULT_LLM_CONCURRENCY),
      ...Object.fromEntries(Object.entries(optional).filter(([, v]) => v !== undefined && v !== '')),
    };
  }

  /** Lets a function build the provider registry: read the API key's secret. */
  grantRead(grantee: iam.IGrantable): void {
    this.openaiApiKey.grantRead(grantee);
  }

  /**
   * Lets a function call the configured providers: the key, and Bedrock's configured models
   * when Bedrock is enabled. The grant names each model rather than `foundation-model/*`: the
   * API does not check a job's model against BEDROCK_MODELS, so IAM is what keeps jobs to the
   * models the operator chose (and paid for).
   */
  grantInvoke(grantee: iam.IGrantable): void {
    this.grantRead(grantee);
    const models = this.bedrockModels();
    if (models.length === 0) return;
    const stack = Stack.of(this);
    // Converse, the API lib/ports/llm/bedrock.ts calls, is authorized by bedrock:InvokeModel.
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['bedrock:InvokeModel'],
        resources: models.map((model) =>
          stack.formatArn({
            service: 'bedrock',
            account: '',
            resource: 'foundation-model',
            resourceName: model,
            arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
          }),
        ),
      }),
    );
  }

  /** The Bedrock models jobs may use: the configured ones, and the default model when Bedrock is the default provider. */
  private bedrockModels(): string[] {
    const { bedrockModels = [], classifierDefaultProvider, classifierDefaultModel } = this.settings;
    if (bedrockModels.length === 0) return [];
    const defaultModel = classifierDefaultProvider === 'bedrock' ? classifierDefaultModel : undefined;
    return [...new Set([...(defaultModel ? [defaultModel] : []), ...bedrockModels])];
  }
}
