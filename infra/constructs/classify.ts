import { Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import type { ApiSettings } from './api.ts';
import type { Database } from './database.ts';
import type { Llm } from './llm.ts';
import {
  DEAD_LETTER_BATCH_SIZE,
  DEAD_LETTER_MAX_CONCURRENCY,
  DEAD_LETTER_WORKER_TIMEOUT,
  queueWorker,
  type WorkerConcurrency,
  workerEnvironment,
} from './queue-worker.ts';
import type { Queues } from './queues.ts';
import type { Storage } from './storage.ts';

/**
 * The classify worker's timeout, Lambda's longest: a message holds a few items, each one LLM
 * call that may be retried with backoff. The classify queue's visibility timeout is six times this.
 */
export const CLASSIFY_WORKER_TIMEOUT = Duration.minutes(15);

/** Messages per invocation of the worker: each already holds several items (LLM calls). */
export const CLASSIFY_BATCH_SIZE = 2;
/**
 * Concurrent worker invocations at most: bounds the calls on the LLM provider (this times
 * LLM_CONCURRENCY) and the database's classify writers.
 */
export const CLASSIFY_MAX_CONCURRENCY = 5;

export interface ClassifyProps extends WorkerConcurrency {
  vpc: ec2.IVpc;
  securityGroup: ec2.ISecurityGroup;
  database: Database;
  storage: Storage;
  queues: Queues;
  llm: Llm;
  logLevel?: ApiSettings['logLevel'];
}

/**
 * The classification workers. The classify worker (functions/workers/classify.ts) consumes
 * the classify queue: the API's job messages, which it plans into item messages on its own
 * queue, and those item messages, which it classifies with the job's LLM provider (out through
 * the NAT gateway) and writes as results to Postgres. The dead-letter worker
 * (functions/workers/classify-dead-letters.ts) consumes the dead-letter queue and fails the
 * items of given-up messages.
 *
 * Both report partial batch failures, so one bad message is retried alone.
 */
export class Classify extends Construct {
  readonly worker: NodejsFunction;
  readonly deadLetterWorker: NodejsFunction;

  constructor(scope: Construct, id: string, props: ClassifyProps) {
    super(scope, id);
    const common = { vpc: props.vpc, securityGroup: props.securityGroup, database: props.database };
    const environment = workerEnvironment(props);

    this.worker = queueWorker(this, 'Worker', {
      ...common,
      entry: 'functions/workers/classify.ts',
      description: 'docsift: plan classification jobs and classify their records with an LLM',
      environment: {
        ...environment,
        ...props.llm.environment(),
        // Its own queue's, where the shared environment has the ingest queue's.
        QUEUE_VISIBILITY_TIMEOUT_SECONDS: String(props.queues.classifyVisibilityTimeout.toSeconds()),
      },
      timeout: CLASSIFY_WORKER_TIMEOUT,
      // Mostly waiting on the provider; prompts and answers are small.
      memorySize: 1024,
      queue: props.queues.classify,
      batchSize: CLASSIFY_BATCH_SIZE,
      maxConcurrency: props.maxConcurrency ?? CLASSIFY_MAX_CONCURRENCY,
      reserveConcurrency: props.reserveConcurrency,
    });
    // The planner fans a job out into item messages on its own queue.
    props.queues.classify.grantSendMessages(this.worker);
    props.llm.grantInvoke(this.worker);

    this.deadLetterWorker = queueWorker(this, 'DeadLetters', {
      ...common,
      entry: 'functions/workers/classify-dead-letters.ts',
      description: 'docsift: fail the job items of given-up classify messages',
      environment,
      timeout: DEAD_LETTER_WORKER_TIMEOUT,
      memorySize: 512,
      queue: props.queues.classifyDeadLetters,
      batchSize: DEAD_LETTER_BATCH_SIZE,
      maxConcurrency: DEAD_LETTER_MAX_CONCURRENCY,
      reserveConcurrency: props.reserveConcurrency,
    });
  }
}
