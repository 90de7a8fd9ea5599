import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct, type IConstruct } from 'constructs';
import { pricesFromEnv } from '#lib/classify/prices.ts';
import { nagArn } from './scheduler.ts';

/**
 * Concurrent calls per provider and process, unless configured: lib/ports/llm/resilient.ts's
 * default, stated here because the bound on the provider is this times the classify worker's
 * maximum concurrency (and the API's few calls).
 */
export const DEFAULT_LLM_CONCURRENCY = 4;

/**
 * Where Bedrock batch inference keeps its files in the bucket: inputs under `input/`, which the
 * service role reads, outputs under `output/`, which it writes. They expire after
 * {@link BEDROCK_BATCH_RETENTION}: a job ends within its timeout (a day by default, at most a
 * week) and the maintenance sweep collects it within minutes.
 */
export const BEDROCK_BATCH_PREFIX = 'bedrock-batch/';
export const BEDROCK_BATCH_RETENTION = Duration.days(14);
const BEDROCK_SERVICE = 'bedrock.amazonaws.com';

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
  /**
   * The bucket Bedrock batch inference reads its inputs from and writes its outputs to, under
   * {@link BEDROCK_BATCH_PREFIX}: with Bedrock models, batch mode on Bedrock is enabled
   * (BEDROCK_BATCH_ROLE_ARN, BEDROCK_BATCH_S3_URI).
   */
  batchBucket?: s3.Bucket;
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
  /** The service role Bedrock batch inference assumes; only with Bedrock models and a batch bucket. */
  readonly bedrockBatchRole: iam.Role | undefined;
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
    this.bedrockBatchRole =
      settings.batchBucket && this.bedrockModels().length > 0
        ? this.batchRole(settings.batchBucket)
        : undefined;
  }

  /**
   * The role Bedrock assumes to run this account's batch inference jobs (no confused deputy: only
   * this account's jobs may): read the inputs, write the outputs, list the prefix.
   */
  private batchRole(bucket: s3.Bucket): iam.Role {
    const stack = Stack.of(this);
    const role = new iam.Role(this, 'BedrockBatchRole', {
      description: 'docsift: assumed by Bedrock batch inference to read job inputs and write their outputs',
      assumedBy: new iam.ServicePrincipal(BEDROCK_SERVICE, {
        conditions: {
          StringEquals: { 'aws:SourceAccount': stack.account },
          ArnLike: { 'aws:SourceArn': this.batchJobArns() },
        },
      }),
    });
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [bucket.arnForObjects(`${BEDROCK_BATCH_PREFIX}input/*`)],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [bucket.arnForObjects(`${BEDROCK_BATCH_PREFIX}output/*`)],
      }),
    );
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:ListBucket'],
        resources: [bucket.bucketArn],
        conditions: { StringLike: { 's3:prefix': [`${BEDROCK_BATCH_PREFIX}*`] } },
      }),
    );
    bucket.addLifecycleRule({ prefix: BEDROCK_BATCH_PREFIX, expiration: BEDROCK_BATCH_RETENTION });
    this.acknowledgeBatchObjects(role, bucket, [
      'Batch input files are written per batch at run time (input/<batch id>.jsonl) and Bedrock names the output files; read on the input prefix and write on the output prefix of the one bucket only, expiring after two weeks.',
      ['input', 'output'],
    ]);
    return role;
  }

  /** Every batch inference job of the account in the stack's region: their ids are Bedrock's. */
  private batchJobArns(): string {
    return Stack.of(this).formatArn({
      service: 'bedrock',
      resource: 'model-invocation-job',
      resourceName: '*',
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
  }

  private acknowledgeBatchObjects(
    scope: IConstruct,
    bucket: s3.Bucket,
    [reason, folders]: [string, string[]],
  ): void {
    const bucketId = Stack.of(this).getLogicalId(bucket.node.defaultChild as s3.CfnBucket);
    for (const folder of folders) {
      Validations.of(scope).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${BEDROCK_BATCH_PREFIX}${folder}/*]`,
        reason,
      });
    }
  }

  /** The provider settings and the key's secret, as lib/ports/llm/index.ts reads them. Unset ones are left out. */
  environment(): Record<string, string> {
    const s = this.settings;
    const batch = this.bedrockBatchRole && s.batchBucket;
    const optional = {
      BEDROCK_BATCH_ROLE_ARN: batch ? this.bedrockBatchRole!.roleArn : undefined,
      BEDROCK_BATCH_S3_URI: batch ? `s3://${s.batchBucket!.bucketName}/${BEDROCK_BATCH_PREFIX}` : undefined,
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
    const modelArns = models.map((model) =>
      stack.formatArn({
        service: 'bedrock',
        account: '',
        resource: 'foundation-model',
        resourceName: model,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      }),
    );
    // Converse, the API lib/ports/llm/bedrock.ts calls, is authorized by bedrock:InvokeModel.
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['bedrock:InvokeModel'], resources: modelArns }),
    );
    if (this.bedrockBatchRole)
      this.grantBatchInference(grantee, modelArns, this.bedrockBatchRole, this.settings.batchBucket!);
  }

  /**
   * Batch mode on Bedrock: write a batch's input file, create, look at and stop its job (passing
   * the service role, to Bedrock only), and read its output file.
   */
  private grantBatchInference(
    grantee: iam.IGrantable,
    modelArns: string[],
    role: iam.Role,
    bucket: s3.Bucket,
  ): void {
    const principal = grantee.grantPrincipal;
    const jobs = this.batchJobArns();
    // Creating a job is authorized on the job and on its model: the configured models only.
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['bedrock:CreateModelInvocationJob'],
        resources: [jobs, ...modelArns],
      }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['bedrock:GetModelInvocationJob', 'bedrock:StopModelInvocationJob'],
        resources: [jobs],
      }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [role.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': BEDROCK_SERVICE } },
      }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject'],
        resources: [bucket.arnForObjects(`${BEDROCK_BATCH_PREFIX}input/*`)],
      }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [bucket.arnForObjects(`${BEDROCK_BATCH_PREFIX}output/*`)],
      }),
    );
    const scope = grantee as unknown as IConstruct;
    Validations.of(scope).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagArn(jobs)}]`,
      reason:
        'Batch inference jobs get their ids from Bedrock when created, so no ARN is known before; the wildcard covers the account’s jobs in the stack’s region, and the models a job may run are those granted for InvokeModel.',
    });
    this.acknowledgeBatchObjects(scope, bucket, [
      'Batch input files are written per batch at run time (input/<batch id>.jsonl) and Bedrock names the output files; put on the input prefix and get on the output prefix of the one bucket only, expiring after two weeks.',
      ['input', 'output'],
    ]);
  }

  /** The Bedrock models jobs may use: the configured ones, and the default model when Bedrock is the default provider. */
  private bedrockModels(): string[] {
    const { bedrockModels = [], classifierDefaultProvider, classifierDefaultModel } = this.settings;
    if (bedrockModels.length === 0) return [];
    const defaultModel = classifierDefaultProvider === 'bedrock' ? classifierDefaultModel : undefined;
    return [...new Set([...(defaultModel ? [defaultModel] : []), ...bedrockModels])];
  }
}
