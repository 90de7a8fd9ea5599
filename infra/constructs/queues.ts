import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { deadLetterQueueOf } from '#lib/ports/queue/queue.ts';

/** Deliveries of one message before SQS moves it to the dead-letter queue. */
export const DEFAULT_MAX_RECEIVE_COUNT = 3;

/** SQS's longest retention: a given-up message waits this long for its consumer or an operator. */
const DEAD_LETTER_RETENTION = Duration.days(14);

/**
 * AWS's rule for a queue that feeds a Lambda function: a visibility timeout of at least six
 * times the function's timeout, so a batch that Lambda retries after a throttle or a failed
 * invocation does not reappear to another poller while the first is still working on it.
 */
export function visibilityTimeoutFor(consumerTimeout: Duration): Duration {
  return Duration.seconds(6 * consumerTimeout.toSeconds());
}

export interface QueuesProps {
  /** Timeout of the function consuming the ingest queue: sets the queue's visibility timeout. */
  ingestConsumerTimeout: Duration;
  /** Timeout of the function consuming the ingest dead-letter queue. */
  deadLetterConsumerTimeout: Duration;
  /** Deliveries before a message is given up. Default 3; the functions get it as QUEUE_MAX_RECEIVE_COUNT. */
  maxReceiveCount?: number;
}

/**
 * The ingest queue and its dead-letter queue. S3 upload notifications and the API's
 * process/scrape messages arrive on the ingest queue; a message that fails `maxReceiveCount`
 * deliveries moves to the dead-letter queue, whose consumer marks its datasource failed.
 *
 * Both are encrypted with SQS-managed keys (SSE-SQS): S3 event notifications cannot publish to
 * a queue encrypted with the AWS-managed KMS key, and a customer key would add a key policy
 * for S3 and a KMS grant to every sender for no gain here. Both refuse non-TLS requests.
 *
 * The names follow the app's convention (lib/ports/queue/queue.ts `deadLetterQueueOf`, the
 * same in LocalStack and pg-boss): `<stack>-ingest` and `<stack>-ingest-dlq`, so an operator
 * or the local runtime pointed at the account finds the dead-letter queue from INGEST_QUEUE.
 */
export class Queues extends Construct {
  readonly ingest: sqs.Queue;
  readonly ingestDeadLetters: sqs.Queue;
  readonly maxReceiveCount: number;
  /** How long a received ingest message stays hidden: six times its consumer's timeout. */
  readonly ingestVisibilityTimeout: Duration;

  constructor(scope: Construct, id: string, props: QueuesProps) {
    super(scope, id);
    this.maxReceiveCount = props.maxReceiveCount ?? DEFAULT_MAX_RECEIVE_COUNT;
    this.ingestVisibilityTimeout = visibilityTimeoutFor(props.ingestConsumerTimeout);
    const ingestName = `${Stack.of(this).stackName}-ingest`;
    const deadLetterName = deadLetterQueueOf(ingestName);
    if (deadLetterName.length > 80) {
      throw new Error(
        `Queue name ${deadLetterName} is longer than SQS's 80 characters: use a shorter stack name`,
      );
    }

    this.ingestDeadLetters = new sqs.Queue(this, 'IngestDeadLetters', {
      queueName: deadLetterName,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // SQS keeps a message's original enqueue time when it moves it here, so this must
      // outlast the ingest queue's retention for a given-up message to be seen at all.
      retentionPeriod: DEAD_LETTER_RETENTION,
      visibilityTimeout: visibilityTimeoutFor(props.deadLetterConsumerTimeout),
    });
    this.ingest = new sqs.Queue(this, 'Ingest', {
      queueName: ingestName,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: this.ingestVisibilityTimeout,
      // SQS's default four days, stated: far longer than maxReceiveCount deliveries take.
      retentionPeriod: Duration.days(4),
      deadLetterQueue: { queue: this.ingestDeadLetters, maxReceiveCount: this.maxReceiveCount },
    });

    Validations.of(this.ingestDeadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        "This is the ingest queue's dead-letter queue. Its consumer only marks datasources failed; a message it cannot handle stays here, visible to operators, until the 14-day retention ends.",
    });
  }

  /** What a function needs in its environment to use the queues (read by lib/config.ts). */
  environment(): Record<string, string> {
    return {
      INGEST_QUEUE: this.ingest.queueName,
      // Not read by lib/config.ts today: lets the app skip the GetQueueUrl look-up when it does.
      INGEST_QUEUE_URL: this.ingest.queueUrl,
      QUEUE_MAX_RECEIVE_COUNT: String(this.maxReceiveCount),
      // The real queue's value, rather than lib/config.ts's default for emulators and pg-boss.
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: String(this.ingestVisibilityTimeout.toSeconds()),
    };
  }
}
