import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { deadLetterQueueOf } from '#lib/ports/queue/queue.ts';

/** Deliveries of one message before SQS moves it to the dead-letter queue. */
export const DEFAULT_MAX_RECEIVE_COUNT = 3;

/** SQS's longest retention: a given-up message waits this long for its consumer or an operator. */
const DEAD_LETTER_RETENTION = Duration.days(14);

/** SQS's longest queue name. */
const MAX_QUEUE_NAME_LENGTH = 80;

/**
 * AWS's rule for a queue that feeds a Lambda function: a visibility timeout of at least six
 * times the function's timeout, so a batch that Lambda retries after a throttle or a failed
 * invocation does not reappear to another poller while the first is still working on it.
 * It covers only the time before the worker runs: once running, the worker hides its messages
 * a short window at a time (lib/workers/visibility.ts), so a worker that times out or dies
 * gives them back within that window rather than after this.
 */
export function visibilityTimeoutFor(consumerTimeout: Duration): Duration {
  return Duration.seconds(6 * consumerTimeout.toSeconds());
}

/** The timeouts of the functions consuming a queue and its dead-letter queue. */
export interface QueueConsumers {
  /** Timeout of the function consuming the queue: sets the queue's visibility timeout. */
  consumerTimeout: Duration;
  /** Timeout of the function consuming the dead-letter queue: sets that queue's visibility timeout. */
  deadLetterConsumerTimeout: Duration;
}

export interface QueuesProps {
  /** The ingest queue's consumers (lib/workers/ingest.ts and its dead-letter worker). */
  ingest: QueueConsumers;
  /** The classify queue's consumers (lib/workers/classify.ts and its dead-letter worker). */
  classify: QueueConsumers;
  /** The task queue's consumers (lib/workers/tasks.ts, the dispatcher, and its dead-letter worker). */
  tasks: QueueConsumers;
  /** Deliveries before a message is given up. Default 3; the functions get it as QUEUE_MAX_RECEIVE_COUNT. */
  maxReceiveCount?: number;
}

/** A work queue, the dead-letter queue it gives messages up to, and how long it hides a received message. */
export interface QueuePair {
  queue: sqs.Queue;
  deadLetters: sqs.Queue;
  visibilityTimeout: Duration;
}

/**
 * The work queues, each with its dead-letter queue: a message that fails `maxReceiveCount`
 * deliveries moves to the dead-letter queue, whose consumer records the failure.
 *
 * - ingest: S3 upload notifications and the API's process/scrape messages; its dead-letter
 *   consumer marks the message's datasource failed.
 * - classify: the API's job messages and the planner's fanned-out item messages; its
 *   dead-letter consumer fails the message's job items.
 * - tasks: Scheduler's firings of recurring tasks and of the maintenance schedule, and the
 *   API's "run now" messages (infra/constructs/scheduler.ts); its dead-letter queue also takes
 *   the firings Scheduler could not deliver, and its consumer fails the runs of given-up ones.
 *
 * All are encrypted with SQS-managed keys (SSE-SQS): S3 event notifications cannot publish to
 * a queue encrypted with the AWS-managed KMS key, and a customer key would add a key policy
 * for S3 and a KMS grant to every sender for no gain here. All refuse non-TLS requests.
 *
 * The names follow the app's convention (lib/ports/queue/queue.ts `deadLetterQueueOf`, the
 * same in LocalStack and pg-boss): `<stack>-ingest` and `<stack>-ingest-dlq`, `<stack>-classify`
 * and `<stack>-classify-dlq`, `<stack>-tasks` and `<stack>-tasks-dlq`, so an operator or the
 * local runtime pointed at the account finds each dead-letter queue from INGEST_QUEUE,
 * CLASSIFY_QUEUE or TASK_QUEUE (and lib/platform.ts the task DLQ's ARN from TASK_QUEUE_ARN).
 */
export class Queues extends Construct {
  readonly ingest: sqs.Queue;
  readonly ingestDeadLetters: sqs.Queue;
  /** How long a received ingest message stays hidden: six times its consumer's timeout. */
  readonly ingestVisibilityTimeout: Duration;
  readonly classify: sqs.Queue;
  readonly classifyDeadLetters: sqs.Queue;
  /** How long a received classify message stays hidden: six times its consumer's timeout. */
  readonly classifyVisibilityTimeout: Duration;
  readonly tasks: sqs.Queue;
  readonly tasksDeadLetters: sqs.Queue;
  /** How long a received task message stays hidden: six times its consumer's timeout. */
  readonly tasksVisibilityTimeout: Duration;
  readonly maxReceiveCount: number;

  constructor(scope: Construct, id: string, props: QueuesProps) {
    super(scope, id);
    this.maxReceiveCount = props.maxReceiveCount ?? DEFAULT_MAX_RECEIVE_COUNT;

    const ingest = this.queuePair('Ingest', 'ingest', props.ingest);
    this.ingest = ingest.queue;
    this.ingestDeadLetters = ingest.deadLetters;
    this.ingestVisibilityTimeout = ingest.visibilityTimeout;
    Validations.of(this.ingestDeadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This is the ingest queue's dead-letter queue. Its consumer only marks datasources failed; a message it cannot handle stays here, visible to operators, until the 14-day retention ends.",
    });

    const classify = this.queuePair('Classify', 'classify', props.classify);
    this.classify = classify.queue;
    this.classifyDeadLetters = classify.deadLetters;
    this.classifyVisibilityTimeout = classify.visibilityTimeout;
    Validations.of(this.classifyDeadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This is the classify queue's dead-letter queue. Its consumer only fails the job items of given-up messages; a message it cannot handle stays here, visible to operators, until the 14-day retention ends.",
    });

    const tasks = this.queuePair('Tasks', 'tasks', props.tasks);
    this.tasks = tasks.queue;
    this.tasksDeadLetters = tasks.deadLetters;
    this.tasksVisibilityTimeout = tasks.visibilityTimeout;
    Validations.of(this.tasksDeadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This is the task queue's dead-letter queue (and the task schedules' dead-letter target). Its consumer only fails the runs of given-up firings; a message it cannot handle stays here, visible to operators, until the 14-day retention ends.",
    });
  }

  /** What a function needs in its environment to use the queues (read by lib/config.ts). */
  environment(): Record<string, string> {
    return {
      INGEST_QUEUE: this.ingest.queueName,
      // Not read by lib/config.ts today: lets the app skip the GetQueueUrl look-up when it does.
      INGEST_QUEUE_URL: this.ingest.queueUrl,
      CLASSIFY_QUEUE: this.classify.queueName,
      CLASSIFY_QUEUE_URL: this.classify.queueUrl,
      TASK_QUEUE: this.tasks.queueName,
      TASK_QUEUE_URL: this.tasks.queueUrl,
      QUEUE_MAX_RECEIVE_COUNT: String(this.maxReceiveCount),
      // The real ingest queue's value, rather than lib/config.ts's default for emulators and
      // pg-boss (only the local runtime reads it; the classify worker gets its own queue's).
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: String(this.ingestVisibilityTimeout.toSeconds()),
    };
  }

  /**
   * A queue named `<stack>-<name>` and its dead-letter queue `<stack>-<name>-dlq`, with
   * construct ids `<id>` and `<id>DeadLetters` (kept stable: the names are fixed, so a
   * changed logical id would make CloudFormation create a queue whose name is taken).
   */
  private queuePair(id: string, name: string, consumers: QueueConsumers): QueuePair {
    const queueName = `${Stack.of(this).stackName}-${name}`;
    const deadLetterName = deadLetterQueueOf(queueName);
    // The dead-letter name is the longer of the two.
    if (deadLetterName.length > MAX_QUEUE_NAME_LENGTH) {
      throw new Error(
        `Queue name ${deadLetterName} is longer than SQS's ${MAX_QUEUE_NAME_LENGTH} characters: use a shorter stack name`,
      );
    }
    const visibilityTimeout = visibilityTimeoutFor(consumers.consumerTimeout);

    const deadLetters = new sqs.Queue(this, `${id}DeadLetters`, {
      queueName: deadLetterName,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // SQS keeps a message's original enqueue time when it moves it here, so this must
      // outlast the work queue's retention for a given-up message to be seen at all.
      retentionPeriod: DEAD_LETTER_RETENTION,
      visibilityTimeout: visibilityTimeoutFor(consumers.deadLetterConsumerTimeout),
    });
    const queue = new sqs.Queue(this, id, {
      queueName,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout,
      // SQS's default four days, stated: far longer than maxReceiveCount deliveries take.
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: deadLetters, maxReceiveCount: this.maxReceiveCount },
    });
    return { queue, deadLetters, visibilityTimeout };
  }
}
