import * as z from 'zod';

/** Reads a boolean the way people write it in env files. */
const envBool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

const configSchema = z.object({
  PLATFORM: z.enum(['local', 'aws']).default('local'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8000),
  HOST: z.string().trim().min(1).default('127.0.0.1'),
  DATA_DIR: z.string().min(1).default('.data'),
  DATABASE_URL: optionalString.pipe(z.url({ protocol: /^postgres(ql)?$/ }).optional()),
  DATABASE_SECRET_ARN: optionalString,
  SECRET_KEY: optionalString.pipe(z.string().min(32, 'SECRET_KEY must be at least 32 characters').optional()),
  SECRET_KEY_ARN: optionalString,
  ACCESS_TOKEN_EXPIRE_MINUTES: z.coerce
    .number()
    .int()
    .positive()
    .default(60 * 24 * 8),
  PASSWORD_RESET_TOKEN_EXPIRE_MINUTES: z.coerce.number().int().positive().default(60),
  FIRST_SUPERUSER: optionalString.pipe(z.email().optional()),
  FIRST_SUPERUSER_PASSWORD: optionalString.pipe(z.string().min(8).optional()),
  USERS_OPEN_REGISTRATION: envBool.default(false),
  BACKEND_CORS_ORIGINS: z
    .string()
    .default('')
    .transform((v) =>
      v
        .split(',')
        .map((o) => o.trim().replace(/\/$/, ''))
        .filter(Boolean),
    ),
  FRONTEND_URL: z.string().default('http://localhost:3000'),
  EMAILS_FROM: optionalString.pipe(z.email().optional()),
  LOG_LEVEL: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).default('INFO'),
  PUBLIC_URL: optionalString.pipe(z.url().optional()),
  UPLOADS_BUCKET: z.string().min(3).default('docsift-uploads'),
  INGEST_QUEUE: z.string().min(1).default('docsift-ingest'),
  CLASSIFY_QUEUE: z.string().min(1).default('docsift-classify'),
  CLASSIFY_PLAN_CHUNK_RECORDS: z.coerce.number().int().min(1).max(10_000).default(2000),
  DELETE_INLINE_MAX_RECORDS: z.coerce.number().int().min(0).default(20_000),
  DELETE_CHUNK_RECORDS: z.coerce.number().int().min(1).max(50_000).default(5000),
  QUEUE_MAX_RECEIVE_COUNT: z.coerce.number().int().min(1).max(20).default(3),
  QUEUE_VISIBILITY_TIMEOUT_SECONDS: z.coerce.number().int().min(0).max(43_200).default(60),
  MAX_UPLOAD_BYTES: z.coerce
    .number()
    .int()
    .positive()
    .default(100 * 1024 * 1024),
  UPLOAD_URL_EXPIRE_SECONDS: z.coerce
    .number()
    .int()
    .min(60)
    .max(7 * 24 * 3600)
    .default(3600),
  SCRAPER_ALLOW_PRIVATE_HOSTS: envBool.default(false),
  LOGIN_MAX_FAILURES_PER_EMAIL: z.coerce.number().int().min(1).default(10),
  LOGIN_MAX_FAILURES_PER_ADDRESS: z.coerce.number().int().min(1).default(100),
  LOGIN_THROTTLE_WINDOW_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .default(15 * 60),
  RECOVERY_MAX_PER_EMAIL: z.coerce.number().int().min(1).default(3),
  RECOVERY_MAX_PER_ADDRESS: z.coerce.number().int().min(1).default(20),
  RECOVERY_THROTTLE_WINDOW_SECONDS: z.coerce
    .number()
    .int()
    .min(1)
    .default(60 * 60),
  EXPORT_INLINE_MAX_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(5 * 1024 * 1024),
  BUNDLE_MAX_UNCOMPRESSED_BYTES: z.coerce
    .number()
    .int()
    .min(1)
    .default(4 * 1024 * 1024 * 1024),
  TASK_QUEUE: z.string().min(1).default('docsift-tasks'),
  TASK_QUEUE_ARN: optionalString,
  TASK_SCHEDULE_GROUP: z.string().min(1).default('docsift'),
  TASK_SCHEDULER_ROLE_ARN: optionalString,
  TASK_MIN_INTERVAL_MINUTES: z.coerce.number().int().min(1).default(5),
  TASK_MAX_CONSECUTIVE_FAILURES: z.coerce.number().int().min(1).default(5),
  LOCAL_SCHEDULER_TICK_SECONDS: z.coerce.number().min(0).default(10),
  MAINTENANCE_INTERVAL_SECONDS: z.coerce.number().min(0).default(300),
  MAINTENANCE_STUCK_AFTER_SECONDS: z.coerce.number().int().min(1).default(900),
  EVENT_BUS_NAME: z.string().min(1).optional(),
  WEBHOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(20).default(6),
  WEBHOOK_RETRY_BASE_SECONDS: z.coerce.number().int().min(0).default(30),
  WEBHOOK_DISABLE_AFTER_FAILURES: z.coerce.number().int().min(1).default(10),
  EVENT_RETENTION_DAYS: z.coerce.number().min(1).default(7),
  WEBHOOK_DELIVERY_RETENTION_DAYS: z.coerce.number().min(1).default(30),
});

export type Config = {
  platform: 'local' | 'aws';
  port: number;
  /** Address the local runtime listens on: loopback by default, `0.0.0.0` to serve from a container. */
  host: string;
  dataDir: string;
  databaseUrl: string | undefined;
  databaseSecretArn: string | undefined;
  secretKey: string | undefined;
  secretKeyArn: string | undefined;
  accessTokenExpireMinutes: number;
  passwordResetTokenExpireMinutes: number;
  firstSuperuser: { email: string; password: string } | undefined;
  usersOpenRegistration: boolean;
  corsOrigins: string[];
  frontendUrl: string;
  emailsFrom: string | undefined;
  logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  /** Base URL clients reach the local runtime at (for local upload URLs); defaults to its own address. */
  publicUrl: string | undefined;
  uploadsBucket: string;
  ingestQueue: string;
  classifyQueue: string;
  /** Records a job's planner takes per message (their items are created and sent out together). */
  classifyPlanChunkRecords: number;
  /** Datasources (and workspaces) of at most this many records are deleted in the request; larger ones in the background. */
  deleteInlineMaxRecords: number;
  /** Records a background delete takes per transaction. */
  deleteChunkRecords: number;
  /** Deliveries of one message before it goes to the dead-letter queue (SQS maxReceiveCount). */
  queueMaxReceiveCount: number;
  /** Local emulation only (in AWS, CDK sets the queue's): how long a failed message waits before it returns. */
  queueVisibilityTimeoutSeconds: number;
  maxUploadBytes: number;
  uploadUrlExpireSeconds: number;
  scraperAllowPrivateHosts: boolean;
  /** Exports above this size are written in the background (202), or for share links streamed to the store (303). */
  exportInlineMaxBytes: number;
  /** An imported bundle may inflate to this many bytes (counted while decompressing), no more. */
  bundleMaxUncompressedBytes: number;
  /** Failed logins allowed per email and per client address within the window; then 429 until it passes. */
  loginThrottle: ThrottleLimits;
  /** Password-recovery requests allowed per email and per client address within the window. */
  recoveryThrottle: ThrottleLimits;
  /** The queue of recurring-task firings and maintenance sweeps (Scheduler's target). */
  taskQueue: string;
  /** Its ARN, as Scheduler targets it: set by CDK; found from the name against an emulator. */
  taskQueueArn: string | undefined;
  /** The Scheduler schedule group holding one schedule per task. */
  taskScheduleGroup: string;
  /** The role Scheduler assumes to send to the task queue (CDK sets it). */
  taskSchedulerRoleArn: string | undefined;
  /** Schedules firing more often are refused (a typo must not burn an LLM budget). */
  taskMinIntervalMinutes: number;
  /** Failed runs in a row after which a task goes to `error` and its schedule is disabled. */
  taskMaxConsecutiveFailures: number;
  /** Local runtime: how often it looks for due firings (0: only when told, as tests do). */
  localSchedulerTickSeconds: number;
  /** Local runtime: how often it sends the maintenance sweep (0: never). In AWS a schedule does. */
  maintenanceIntervalSeconds: number;
  /** Work that has not moved for this long is sent again by the maintenance sweep. */
  maintenanceStuckAfterSeconds: number;
  /** The stack's EventBridge bus lifecycle events go to (aws); unset: webhooks only. */
  eventBusName: string | undefined;
  /** Webhooks: tries per event, the first retry's delay (doubling after), failures in a row before disabling. */
  webhooks: { maxAttempts: number; retryBaseSeconds: number; disableAfterFailures: number };
  /** How long the maintenance sweep keeps published events and webhook delivery attempts. */
  retention: { eventsDays: number; webhookDeliveriesDays: number };
};

/** How many attempts one email and one client address may make within a sliding window. */
export type ThrottleLimits = { perEmail: number; perAddress: number; windowSeconds: number };

/** Thrown at start when the environment does not describe a runnable service. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * Parses the environment into a typed config. Pure: call {@link config} for the process-wide one.
 *
 * @example loadConfig({ PORT: '9000' }).port // 9000
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  if (Boolean(e.FIRST_SUPERUSER) !== Boolean(e.FIRST_SUPERUSER_PASSWORD)) {
    throw new ConfigError(
      'Invalid configuration: set both FIRST_SUPERUSER and FIRST_SUPERUSER_PASSWORD, or neither',
    );
  }
  return {
    platform: e.PLATFORM,
    port: e.PORT,
    host: e.HOST,
    dataDir: e.DATA_DIR,
    databaseUrl: e.DATABASE_URL,
    databaseSecretArn: e.DATABASE_SECRET_ARN,
    secretKey: e.SECRET_KEY,
    secretKeyArn: e.SECRET_KEY_ARN,
    accessTokenExpireMinutes: e.ACCESS_TOKEN_EXPIRE_MINUTES,
    passwordResetTokenExpireMinutes: e.PASSWORD_RESET_TOKEN_EXPIRE_MINUTES,
    firstSuperuser:
      e.FIRST_SUPERUSER && e.FIRST_SUPERUSER_PASSWORD
        ? { email: e.FIRST_SUPERUSER.toLowerCase(), password: e.FIRST_SUPERUSER_PASSWORD }
        : undefined,
    usersOpenRegistration: e.USERS_OPEN_REGISTRATION,
    corsOrigins: e.BACKEND_CORS_ORIGINS,
    frontendUrl: e.FRONTEND_URL,
    emailsFrom: e.EMAILS_FROM,
    logLevel: e.LOG_LEVEL,
    publicUrl: e.PUBLIC_URL?.replace(/\/$/, ''),
    uploadsBucket: e.UPLOADS_BUCKET,
    ingestQueue: e.INGEST_QUEUE,
    classifyQueue: e.CLASSIFY_QUEUE,
    classifyPlanChunkRecords: e.CLASSIFY_PLAN_CHUNK_RECORDS,
    deleteInlineMaxRecords: e.DELETE_INLINE_MAX_RECORDS,
    deleteChunkRecords: e.DELETE_CHUNK_RECORDS,
    queueMaxReceiveCount: e.QUEUE_MAX_RECEIVE_COUNT,
    queueVisibilityTimeoutSeconds: e.QUEUE_VISIBILITY_TIMEOUT_SECONDS,
    maxUploadBytes: e.MAX_UPLOAD_BYTES,
    uploadUrlExpireSeconds: e.UPLOAD_URL_EXPIRE_SECONDS,
    scraperAllowPrivateHosts: e.SCRAPER_ALLOW_PRIVATE_HOSTS,
    exportInlineMaxBytes: e.EXPORT_INLINE_MAX_BYTES,
    bundleMaxUncompressedBytes: e.BUNDLE_MAX_UNCOMPRESSED_BYTES,
    loginThrottle: {
      perEmail: e.LOGIN_MAX_FAILURES_PER_EMAIL,
      perAddress: e.LOGIN_MAX_FAILURES_PER_ADDRESS,
      windowSeconds: e.LOGIN_THROTTLE_WINDOW_SECONDS,
    },
    recoveryThrottle: {
      perEmail: e.RECOVERY_MAX_PER_EMAIL,
      perAddress: e.RECOVERY_MAX_PER_ADDRESS,
      windowSeconds: e.RECOVERY_THROTTLE_WINDOW_SECONDS,
    },
    taskQueue: e.TASK_QUEUE,
    taskQueueArn: e.TASK_QUEUE_ARN,
    taskScheduleGroup: e.TASK_SCHEDULE_GROUP,
    taskSchedulerRoleArn: e.TASK_SCHEDULER_ROLE_ARN,
    taskMinIntervalMinutes: e.TASK_MIN_INTERVAL_MINUTES,
    taskMaxConsecutiveFailures: e.TASK_MAX_CONSECUTIVE_FAILURES,
    localSchedulerTickSeconds: e.LOCAL_SCHEDULER_TICK_SECONDS,
    maintenanceIntervalSeconds: e.MAINTENANCE_INTERVAL_SECONDS,
    maintenanceStuckAfterSeconds: e.MAINTENANCE_STUCK_AFTER_SECONDS,
    eventBusName: e.EVENT_BUS_NAME,
    webhooks: {
      maxAttempts: e.WEBHOOK_MAX_ATTEMPTS,
      retryBaseSeconds: e.WEBHOOK_RETRY_BASE_SECONDS,
      disableAfterFailures: e.WEBHOOK_DISABLE_AFTER_FAILURES,
    },
    retention: {
      eventsDays: e.EVENT_RETENTION_DAYS,
      webhookDeliveriesDays: e.WEBHOOK_DELIVERY_RETENTION_DAYS,
    },
  };
}

let current: Config | undefined;

/** The process-wide config, parsed from the environment on first use. */
export function config(): Config {
  current ??= loadConfig();
  return current;
}

/** Replaces the process-wide config: the local runtime and tests use it after filling in what they start. */
export function setConfig(next: Config): void {
  current = next;
}
