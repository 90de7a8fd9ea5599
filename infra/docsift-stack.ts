import { Aspects, CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import type { Route } from '#lib/http/route.ts';
import { routes } from '#lib/http/routes.ts';
import { Api, type ApiSettings, DEFAULT_API_THROTTLE, DEFAULT_AUTH_THROTTLE } from './constructs/api.ts';
import { CLASSIFY_WORKER_TIMEOUT, Classify } from './constructs/classify.ts';
import { Database } from './constructs/database.ts';
import { LifecycleEvents } from './constructs/events.ts';
import { INGEST_WORKER_TIMEOUT, Ingest } from './constructs/ingest.ts';
import { Llm, type LlmSettings } from './constructs/llm.ts';
import { Migrations } from './constructs/migrations.ts';
import { type AlarmThresholds, DEFAULT_ALARM_THRESHOLDS, Monitoring } from './constructs/monitoring.ts';
import { Network } from './constructs/network.ts';
import { DEAD_LETTER_WORKER_TIMEOUT } from './constructs/queue-worker.ts';
import { Queues } from './constructs/queues.ts';
import { Scheduler, TASK_WORKER_TIMEOUT } from './constructs/scheduler.ts';
import { Secrets } from './constructs/secrets.ts';
import { Storage } from './constructs/storage.ts';
import { Telemetry } from './constructs/telemetry.ts';

export interface DocsiftStackProps extends StackProps, ApiSettings, LlmSettings {
  /**
   * Browser origins allowed by CORS (BACKEND_CORS_ORIGINS locally). Default none: CORS off on
   * the API, and any origin on the uploads bucket (presigned URLs authorize themselves).
   */
  corsOrigins?: string[];
  /** Largest upload accepted, in bytes (MAX_UPLOAD_BYTES). Default 100 MiB. */
  maxUploadBytes?: number;
  /** Email of the superuser seeded on first deploy; its password is generated into a secret. */
  firstSuperuserEmail?: string;
  /** Protect the database from deletion (and snapshot it on stack deletion). Default true. */
  deletionProtection?: boolean;
  /** Set to pin the migration trigger; by default it changes on every synth so migrations run on every deploy. */
  migrationRunId?: string;
  /** Requests per second on each of the login, recovery and registration routes (API Gateway). Default 10. */
  authThrottleRateLimit?: number;
  /** Burst on each of those routes. Default 20. */
  authThrottleBurstLimit?: number;
  /** Requests per second on the API's stage, every route together (API Gateway). Default 100. */
  apiThrottleRateLimit?: number;
  /** Burst on the stage. Default 200. */
  apiThrottleBurstLimit?: number;
  /** The HTTP routes, one function each. Default the app's route table (lib/http/routes.ts). */
  routes?: Route[];
  /** X-Ray active tracing and Powertools Tracer on every function. Default false. */
  tracing?: boolean;
  /** Email subscribed to the alarm topic (it confirms the subscription). Default none. */
  alarmEmail?: string;
  /** Alarm thresholds over {@link DEFAULT_ALARM_THRESHOLDS}. */
  alarmThresholds?: Partial<AlarmThresholds>;
  /** Concurrent ingest workers at most. Default 10. */
  ingestConcurrency?: number;
  /** Concurrent classify workers at most. Default 5. */
  classifyConcurrency?: number;
  /** Concurrent task dispatchers at most. Default 5. */
  taskConcurrency?: number;
  /** Reserve each worker's concurrency (off for accounts with a tiny concurrency limit). Default true. */
  reserveWorkerConcurrency?: boolean;
}

/**
 * docsift on AWS: network, database, secrets, migrations, the HTTP API (its routes in one nested
 * stack per area), ingestion (bucket, queues, workers), classification (queues, workers, LLM
 * configuration) and recurring tasks (Scheduler group and role, task queue, dispatcher).
 */
export class DocsiftStack extends Stack {
  readonly api: Api;
  readonly database: Database;
  readonly secrets: Secrets;
  readonly migrations: Migrations;
  readonly storage: Storage;
  readonly queues: Queues;
  readonly ingest: Ingest;
  readonly llm: Llm;
  readonly classify: Classify;
  readonly scheduler: Scheduler;
  readonly events: LifecycleEvents;
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: DocsiftStackProps = {}) {
    super(scope, id, props);
    const network = new Network(this, 'Network');
    this.database = new Database(this, 'Database', {
      vpc: network.vpc,
      deletionProtection: props.deletionProtection,
    });
    this.secrets = new Secrets(this, 'Secrets');
    this.queues = new Queues(this, 'Queues', {
      ingest: {
        consumerTimeout: INGEST_WORKER_TIMEOUT,
        deadLetterConsumerTimeout: DEAD_LETTER_WORKER_TIMEOUT,
      },
      classify: {
        consumerTimeout: CLASSIFY_WORKER_TIMEOUT,
        deadLetterConsumerTimeout: DEAD_LETTER_WORKER_TIMEOUT,
      },
      tasks: {
        consumerTimeout: TASK_WORKER_TIMEOUT,
        deadLetterConsumerTimeout: DEAD_LETTER_WORKER_TIMEOUT,
      },
    });
    this.storage = new Storage(this, 'Storage', {
      corsOrigins: props.corsOrigins ?? [],
      uploadsQueue: this.queues.ingest,
      maxUploadBytes: props.maxUploadBytes,
    });
    this.llm = new Llm(this, 'Llm', {
      openaiBaseUrl: props.openaiBaseUrl,
      openaiModels: props.openaiModels,
      bedrockModels: props.bedrockModels,
      classifierDefaultProvider: props.classifierDefaultProvider,
      classifierDefaultModel: props.classifierDefaultModel,
      llmConcurrency: props.llmConcurrency,
      llmPrices: props.llmPrices,
      batchBucket: this.storage.uploads,
    });
    this.scheduler = new Scheduler(this, 'Scheduler', {
      vpc: network.vpc,
      securityGroup: network.functionsSecurityGroup,
      database: this.database,
      storage: this.storage,
      queues: this.queues,
      llm: this.llm,
      logLevel: props.logLevel,
      maxConcurrency: props.taskConcurrency,
      reserveConcurrency: props.reserveWorkerConcurrency,
    });
    this.api = new Api(this, 'Api', {
      routes: props.routes ?? routes,
      vpc: network.vpc,
      securityGroup: network.functionsSecurityGroup,
      database: this.database,
      jwtSigningKey: this.secrets.jwtSigningKey,
      storage: this.storage,
      queues: this.queues,
      llm: this.llm,
      corsOrigins: props.corsOrigins ?? [],
      throttle: {
        rateLimit: props.apiThrottleRateLimit ?? DEFAULT_API_THROTTLE.rateLimit,
        burstLimit: props.apiThrottleBurstLimit ?? DEFAULT_API_THROTTLE.burstLimit,
      },
      authThrottle: {
        rateLimit: props.authThrottleRateLimit ?? DEFAULT_AUTH_THROTTLE.rateLimit,
        burstLimit: props.authThrottleBurstLimit ?? DEFAULT_AUTH_THROTTLE.burstLimit,
      },
      taskAccess: this.scheduler,
      settings: {
        frontendUrl: props.frontendUrl,
        usersOpenRegistration: props.usersOpenRegistration,
        accessTokenExpireMinutes: props.accessTokenExpireMinutes,
        logLevel: props.logLevel,
        emailsFrom: props.emailsFrom,
      },
    });
    this.ingest = new Ingest(this, 'Ingest', {
      vpc: network.vpc,
      securityGroup: network.functionsSecurityGroup,
      database: this.database,
      storage: this.storage,
      queues: this.queues,
      logLevel: props.logLevel,
      maxConcurrency: props.ingestConcurrency,
      reserveConcurrency: props.reserveWorkerConcurrency,
    });
    this.classify = new Classify(this, 'Classify', {
      vpc: network.vpc,
      securityGroup: network.functionsSecurityGroup,
      database: this.database,
      storage: this.storage,
      queues: this.queues,
      llm: this.llm,
      logLevel: props.logLevel,
      maxConcurrency: props.classifyConcurrency,
      reserveConcurrency: props.reserveWorkerConcurrency,
    });
    this.events = new LifecycleEvents(this, 'Events', { queues: this.queues });
    this.events.grantPublish(this.scheduler.worker);
    // The functions that record events nudge the dispatcher: the workers, and the route
    // functions (a cancelled job's event goes out now, not at the next sweep). See grantNudge.
    this.events.grantNudge([
      this.ingest.worker,
      this.ingest.deadLetterWorker,
      this.classify.worker,
      this.classify.deadLetterWorker,
      this.api.functionRole,
    ]);
    this.migrations = new Migrations(this, 'Migrations', {
      vpc: network.vpc,
      securityGroup: network.functionsSecurityGroup,
      database: this.database,
      firstSuperuserEmail: props.firstSuperuserEmail,
      runId: props.migrationRunId ?? new Date().toISOString(),
      // The workers too: their event sources would otherwise start writing to an old schema.
      executeBefore: [this.api, this.ingest, this.classify, this.scheduler],
    });

    this.monitoring = new Monitoring(this, 'Monitoring', {
      queues: this.queues,
      httpApi: this.api.httpApi,
      database: this.database,
      workers: [
        { name: 'IngestWorker', fn: this.ingest.worker },
        { name: 'IngestDeadLetterWorker', fn: this.ingest.deadLetterWorker },
        { name: 'ClassifyWorker', fn: this.classify.worker },
        { name: 'ClassifyDeadLetterWorker', fn: this.classify.deadLetterWorker },
        { name: 'TaskWorker', fn: this.scheduler.worker },
        { name: 'TaskDeadLetterWorker', fn: this.scheduler.deadLetterWorker },
      ],
      thresholds: { ...DEFAULT_ALARM_THRESHOLDS, ...props.alarmThresholds },
      alarmEmail: props.alarmEmail,
    });
    Aspects.of(this).add(new Telemetry({ tracing: props.tracing ?? false, service: this.stackName }));

    new CfnOutput(this, 'ApiUrl', { value: this.api.stage.url, description: 'Base URL of the docsift API' });
    new CfnOutput(this, 'UploadsBucketName', {
      value: this.storage.uploads.bucketName,
      description: 'Bucket of uploaded documents (UPLOADS_BUCKET)',
    });
    new CfnOutput(this, 'IngestQueueName', {
      value: this.queues.ingest.queueName,
      description: 'Ingest queue (INGEST_QUEUE); its dead-letter queue is <name>-dlq',
    });
    new CfnOutput(this, 'ClassifyQueueName', {
      value: this.queues.classify.queueName,
      description: 'Classify queue (CLASSIFY_QUEUE); its dead-letter queue is <name>-dlq',
    });
    new CfnOutput(this, 'TaskQueueName', {
      value: this.queues.tasks.queueName,
      description:
        'Task queue (TASK_QUEUE): recurring-task firings and maintenance sweeps; its dead-letter queue is <name>-dlq',
    });
    new CfnOutput(this, 'TaskScheduleGroupName', {
      value: this.scheduler.groupName,
      description:
        'Scheduler group of the recurring-task schedules and the maintenance schedule (TASK_SCHEDULE_GROUP)',
    });
    new CfnOutput(this, 'EventBusName', {
      value: this.events.bus.eventBusName,
      description: 'EventBridge bus of the lifecycle events (source docsift; detail types in docs/events.md)',
    });
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.monitoring.topic.topicArn,
      description: 'SNS topic of every alarm (subscribe more endpoints to it; alarmEmail subscribes one)',
    });
    new CfnOutput(this, 'DashboardName', {
      value: this.monitoring.dashboard.dashboardName,
      description: 'CloudWatch dashboard of the stack',
    });
    new CfnOutput(this, 'OpenAiApiKeySecretArn', {
      value: this.llm.openaiApiKey.secretArn,
      description:
        'Secret of the OpenAI-compatible API key (OPENAI_API_KEY_SECRET_ARN), created with a placeholder: put the real key in it (aws secretsmanager put-secret-value --secret-id <arn> --secret-string <key>)',
    });
  }
}
