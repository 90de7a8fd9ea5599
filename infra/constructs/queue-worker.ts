import { Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { ApiSettings } from './api.ts';
import { appFunction } from './app-function.ts';
import type { Database } from './database.ts';
import type { Queues } from './queues.ts';
import type { Storage } from './storage.ts';

/** A dead-letter consumer's timeout: a few status updates per message. */
export const DEAD_LETTER_WORKER_TIMEOUT = Duration.minutes(1);

/** Messages per invocation of a dead-letter consumer: each is a few small updates. */
export const DEAD_LETTER_BATCH_SIZE = 10;

/** Concurrent invocations of a dead-letter consumer: Lambda's minimum; dead letters are rare and need not compete for the database. */
export const DEAD_LETTER_MAX_CONCURRENCY = 2;

export interface WorkerEnvironmentProps {
  database: Database;
  storage: Storage;
  queues: Queues;
  logLevel?: ApiSettings['logLevel'];
}

/** How many copies of a construct's worker may run, and whether that many are reserved. */
export interface WorkerConcurrency {
  /** Concurrent invocations of the main worker at most (the event source's maximum). */
  maxConcurrency?: number;
  /** Reserve that concurrency for it (and the dead-letter worker's). Default true. */
  reserveConcurrency?: boolean;
}

/**
 * The environment every queue worker starts from. Workers get the bucket and queue names even
 * where they hold no grant on them, so no function ever falls back on lib/config.ts's local
 * defaults for AWS resources.
 */
export function workerEnvironment(props: WorkerEnvironmentProps): Record<string, string> {
  return {
    PLATFORM: 'aws',
    ...props.database.connectionEnvironment(),
    ...props.storage.environment(),
    ...props.queues.environment(),
    ...(props.logLevel ? { LOG_LEVEL: props.logLevel } : {}),
  };
}

export interface QueueWorkerProps {
  /** Entry file, relative to the repository root; its export `handler` is the function's handler. */
  entry: string;
  description: string;
  vpc: ec2.IVpc;
  securityGroup: ec2.ISecurityGroup;
  environment: Record<string, string>;
  timeout: Duration;
  memorySize: number;
  /** Every worker writes to Postgres: it is granted the proxy and the credentials secret. */
  database: Database;
  /** The queue consumed; the event source grants receive, delete and change visibility on it. */
  queue: sqs.IQueue;
  batchSize: number;
  /**
   * Concurrent invocations at most. The event source's own limit rather than reserved
   * concurrency: Lambda then stops polling instead of being throttled, so messages waiting for
   * a slot do not spend their receives (maxReceiveCount is only 3).
   */
  maxConcurrency: number;
  /**
   * Reserve `maxConcurrency` for the function (default true): a burst elsewhere in the account
   * cannot starve it, and nothing but its event source can run more copies of it, so its
   * database connections stay within its share of the proxy's budget (README, deploy).
   */
  reserveConcurrency?: boolean;
}

/**
 * A function consuming an SQS queue, reporting partial batch failures so one bad message is
 * retried alone. The event source grants `sqs:ChangeMessageVisibility`, which the entry's
 * heartbeat (`keepingVisible`, lib/workers/visibility.ts) uses to keep the messages it works on
 * hidden a short window at a time. Other grants (sending, the bucket, secrets) are the caller's.
 *
 * @example queueWorker(this, 'Worker', { entry: 'functions/workers/ingest.ts', queue, batchSize: 5, maxConcurrency: 10, ... })
 */
export function queueWorker(scope: Construct, id: string, props: QueueWorkerProps): NodejsFunction {
  const fn = appFunction(scope, id, {
    entry: props.entry,
    handler: 'handler',
    description: props.description,
    vpc: props.vpc,
    securityGroup: props.securityGroup,
    environment: props.environment,
    timeout: props.timeout,
    memorySize: props.memorySize,
  });
  props.database.grantConnect(fn);
  if (props.reserveConcurrency ?? true) {
    // Equal to the event source's maximum, never below: the mapping would then be throttled.
    (fn.node.defaultChild as lambda.CfnFunction).reservedConcurrentExecutions = props.maxConcurrency;
  }
  fn.addEventSource(
    new SqsEventSource(props.queue, {
      batchSize: props.batchSize,
      maxConcurrency: props.maxConcurrency,
      reportBatchItemFailures: true,
    }),
  );
  return fn;
}
