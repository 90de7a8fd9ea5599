import type { Node } from 'constructs';
import { z } from 'zod';
import { type AlarmThresholds, DEFAULT_ALARM_THRESHOLDS } from './constructs/monitoring.ts';
import type { DocsiftStackProps } from './docsift-stack.ts';

// Context comes typed from cdk.json and as strings from `cdk deploy -c key=value`: accept both.
const bool = z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]);
// Origins as BACKEND_CORS_ORIGINS reads them locally: comma-separated, no trailing slash.
const origins = z
  .union([z.array(z.string()), z.string().transform((v) => v.split(','))])
  .transform((list) => list.map((o) => o.trim().replace(/\/$/, '')).filter(Boolean));
// Model lists as OPENAI_MODELS and BEDROCK_MODELS read them: comma-separated; an empty list is unset.
const models = z
  .union([z.array(z.string()), z.string().transform((v) => v.split(','))])
  .transform((list) => [...new Set(list.map((m) => m.trim()).filter(Boolean))])
  .transform((list) => (list.length > 0 ? list : undefined));

const contextSchema = z.object({
  corsOrigins: origins.optional(),
  firstSuperuserEmail: z.email().optional(),
  emailsFrom: z.email().optional(),
  frontendUrl: z.url().optional(),
  usersOpenRegistration: bool.optional(),
  accessTokenExpireMinutes: z.coerce.number().int().positive().optional(),
  logLevel: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR', 'SILENT']).optional(),
  maxUploadBytes: z.coerce.number().int().positive().optional(),
  deletionProtection: bool.optional(),
  migrationRunId: z.string().min(1).optional(),
  openaiBaseUrl: z.url({ protocol: /^https?$/ }).optional(),
  openaiModels: models.optional(),
  bedrockModels: models.optional(),
  classifierDefaultProvider: z.enum(['openai', 'bedrock']).optional(),
  classifierDefaultModel: z.string().trim().min(1).optional(),
  llmConcurrency: z.coerce.number().int().min(1).max(256).optional(),
  llmPrices: z.string().trim().min(1).optional(),
  authThrottleRateLimit: z.coerce.number().min(1).optional(),
  authThrottleBurstLimit: z.coerce.number().int().min(1).optional(),
  apiThrottleRateLimit: z.coerce.number().min(1).optional(),
  apiThrottleBurstLimit: z.coerce.number().int().min(1).optional(),
  tracing: bool.optional(),
  alarmEmail: z.email().optional(),
  // Lambda's event source needs at least 2 concurrent invocations.
  ingestConcurrency: z.coerce.number().int().min(2).max(1000).optional(),
  classifyConcurrency: z.coerce.number().int().min(2).max(1000).optional(),
  taskConcurrency: z.coerce.number().int().min(2).max(1000).optional(),
  reserveWorkerConcurrency: bool.optional(),
  ...alarmKeys(),
});

/** `alarm<Threshold>` for each alarm threshold, e.g. `alarmApi5xxPercent` (infra/constructs/monitoring.ts). */
function alarmKeys() {
  return Object.fromEntries(
    (Object.keys(DEFAULT_ALARM_THRESHOLDS) as (keyof AlarmThresholds)[]).map((key) => [
      alarmKey(key),
      z.coerce.number().min(0).optional(),
    ]),
  ) as Record<`alarm${Capitalize<keyof AlarmThresholds>}`, z.ZodOptional<z.ZodCoercedNumber>>;
}

function alarmKey<K extends keyof AlarmThresholds>(key: K): `alarm${Capitalize<K>}` {
  return `alarm${key[0]!.toUpperCase()}${key.slice(1)}` as `alarm${Capitalize<K>}`;
}

/** The context keys that configure the stack, e.g. `cdk deploy -c corsOrigins=https://app.example.com`. */
export const CONTEXT_KEYS = Object.keys(contextSchema.shape) as (keyof typeof contextSchema.shape)[];

/**
 * Reads the stack's settings from CDK context, failing synth with a clear message on a bad value.
 *
 * @example propsFromContext(app.node) // { corsOrigins: ['https://app.example.com'] }
 */
export function propsFromContext(node: Node): DocsiftStackProps {
  const raw = Object.fromEntries(CONTEXT_KEYS.map((key) => [key, node.tryGetContext(key)]));
  const parsed = contextSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new Error(`Invalid CDK context:\n${lines.join('\n')}`);
  }
  const props: Record<string, unknown> = {};
  const alarmThresholds: Partial<AlarmThresholds> = {};
  const thresholdOf = new Map(
    (Object.keys(DEFAULT_ALARM_THRESHOLDS) as (keyof AlarmThresholds)[]).map((k) => [
      alarmKey(k) as string,
      k,
    ]),
  );
  for (const [key, value] of Object.entries(parsed.data)) {
    if (value === undefined) continue;
    const threshold = thresholdOf.get(key);
    if (threshold) alarmThresholds[threshold] = value as number;
    else props[key] = value;
  }
  if (Object.keys(alarmThresholds).length > 0) props.alarmThresholds = alarmThresholds;
  return props as DocsiftStackProps;
}

/**
 * The stack's name: `Docsift`, or `Docsift-<stage>` with `-c stage=<stage>`, so stages deploy
 * side by side (queues, bucket, schedule group and secrets take their names from the stack).
 *
 * @example stackNameFromContext(app.node) // 'Docsift-dev' with -c stage=dev
 */
export function stackNameFromContext(node: Node): string {
  const stage = node.tryGetContext('stage') as unknown;
  if (stage === undefined) return 'Docsift';
  if (typeof stage !== 'string' || !/^[A-Za-z][A-Za-z0-9-]{0,20}$/.test(stage)) {
    throw new Error(
      'Invalid CDK context:\n  stage: letters, digits and dashes, starting with a letter, at most 21',
    );
  }
  return `Docsift-${stage}`;
}
