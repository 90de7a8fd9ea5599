import { Duration } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import { Construct } from 'constructs';
import type { ApiSettings } from './api.ts';
import type { Database } from './database.ts';
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
 * The ingest worker's timeout: a 100 MB PDF parsed page by page, or a slice of a URL list
 * scraped with per-request timeouts. The ingest queue's visibility timeout is six times this.
 */
export const INGEST_WORKER_TIMEOUT = Duration.minutes(10);

/** Messages per invocation of the worker: small, since one message can be a 100 MB PDF. */
export const INGEST_BATCH_SIZE = 5;
/** Concurrent worker invocations at most: the database sees at most this many ingest writers. */
export const INGEST_MAX_CONCURRENCY = 10;

export interface IngestProps extends WorkerConcurrency {
  vpc: ec2.IVpc;
  securityGroup: ec2.ISecurityGroup;
  database: Database;
  storage: Storage;
  queues: Queues;
  logLevel?: ApiSettings['logLevel'];
}

/**
 * The ingestion workers. The ingest worker (functions/workers/ingest.ts) consumes the ingest
 * queue: S3 notifications of new uploads, and the API's process/scrape messages. It parses
 * PDFs and CSVs, scrapes URLs (out through the NAT gateway: it runs in the private subnets
 * with egress like every function), writes records to Postgres, and fans long URL lists out
 * into more messages on its own queue. The dead-letter worker
 * (functions/workers/ingest-dead-letters.ts) consumes the dead-letter queue and marks the
 * datasources of given-up messages failed.
 *
 * Both report partial batch failures, so one bad message is retried alone.
 */
export class Ingest extends Construct {
  readonly worker: NodejsFunction;
  readonly deadLetterWorker: NodejsFunction;

  constructor(scope: Construct, id: string, props: IngestProps) {
    super(scope, id);
    const common = {
      vpc: props.vpc,
      securityGroup: props.securityGroup,
      database: props.database,
      environment: workerEnvironment(props),
    };

    this.worker = queueWorker(this, 'Worker', {
      ...common,
      entry: 'functions/workers/ingest.ts',
      description: 'docsift: ingest uploads, text and URL lists into records',
      timeout: INGEST_WORKER_TIMEOUT,
      // PDF parsing holds a whole upload (up to MAX_UPLOAD_BYTES, 100 MB) in memory, with
      // pdf.js's structures on top; memory also buys CPU, which parsing is bound by.
      memorySize: 2048,
      queue: props.queues.ingest,
      batchSize: INGEST_BATCH_SIZE,
      maxConcurrency: props.maxConcurrency ?? INGEST_MAX_CONCURRENCY,
      reserveConcurrency: props.reserveConcurrency,
    });
    props.storage.grantWorkerAccess(this.worker);
    // Fans a long URL list out into scrape messages on its own queue.
    props.queues.ingest.grantSendMessages(this.worker);

    this.deadLetterWorker = queueWorker(this, 'DeadLetters', {
      ...common,
      entry: 'functions/workers/ingest-dead-letters.ts',
      description: 'docsift: mark the datasources of given-up ingest messages failed',
      timeout: DEAD_LETTER_WORKER_TIMEOUT,
      memorySize: 512,
      queue: props.queues.ingestDeadLetters,
      batchSize: DEAD_LETTER_BATCH_SIZE,
      maxConcurrency: DEAD_LETTER_MAX_CONCURRENCY,
      reserveConcurrency: props.reserveConcurrency,
    });
  }
}
