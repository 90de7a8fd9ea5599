import {
  CreateEventBusCommand,
  EventBridgeClient,
  ResourceAlreadyExistsException,
} from '@aws-sdk/client-eventbridge';
import {
  BucketAlreadyOwnedByYou,
  CreateBucketCommand,
  PutBucketCorsCommand,
  PutBucketNotificationConfigurationCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { ConflictException, CreateScheduleGroupCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import { AlreadyExistsException, CreateEmailIdentityCommand, SESv2Client } from '@aws-sdk/client-sesv2';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  SetQueueAttributesCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { UPLOADS_PREFIX } from '#lib/ingest/messages.ts';
import { deadLetterQueueOf } from '#lib/ports/queue/queue.ts';

export type AwsResourceNames = {
  bucket: string;
  ingestQueue: string;
  classifyQueue: string;
  /** Recurring-task firings and maintenance sweeps: Scheduler's target. */
  taskQueue: string;
  /** The Scheduler group of the task schedules. */
  scheduleGroup: string;
  maxReceiveCount: number;
  /** Seconds a received message stays hidden; CDK uses six times the worker's timeout. */
  visibilityTimeoutSeconds: number;
  corsOrigins: string[];
  /** The mail sender; emulators (like SES in its sandbox) send only from verified identities. */
  emailsFrom?: string | undefined;
  /** The lifecycle events' bus (EVENT_BUS_NAME), where CDK would make the stack's. */
  eventBus?: string | undefined;
};

async function createQueue(sqs: SQSClient, name: string, attributes: Record<string, string>) {
  const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: name }));
  // Set apart from creation: a queue kept from an earlier run with other settings gets these.
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: attributes }));
  const { Attributes } = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl, AttributeNames: ['QueueArn'] }),
  );
  return { url: QueueUrl!, arn: Attributes!.QueueArn! };
}

/** A queue with its dead-letter queue and redrive policy (the names follow {@link deadLetterQueueOf}). */
async function createQueueWithDlq(
  sqs: SQSClient,
  name: string,
  maxReceiveCount: number,
  visibilityTimeoutSeconds: number,
) {
  const dlq = await createQueue(sqs, deadLetterQueueOf(name), { MessageRetentionPeriod: '1209600' });
  return createQueue(sqs, name, {
    VisibilityTimeout: String(visibilityTimeoutSeconds),
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount }),
  });
}

/**
 * Creates what docsift needs in an AWS account that CDK did not build: LocalStack (its init
 * hook runs this), moto in the tests, or a bare account for experiments. The bucket with CORS
 * for browser POSTs, the ingest and classify queues with their DLQs and redrive policies, and the bucket's
 * ObjectCreated → queue notification, the task queue and schedule group of recurring tasks, and
 * the mail sender's identity when there is one. Idempotent. Returns the task queue's ARN, which
 * schedules target.
 */
export async function ensureAwsResources(
  s3: S3Client,
  sqs: SQSClient,
  names: AwsResourceNames,
): Promise<{ taskQueueArn: string }> {
  try {
    const region = await s3.config.region();
    await s3.send(
      new CreateBucketCommand({
        Bucket: names.bucket,
        // us-east-1 is the one region that takes no location constraint.
        ...(region !== 'us-east-1' && {
          CreateBucketConfiguration: { LocationConstraint: region as 'eu-west-1' },
        }),
      }),
    );
  } catch (error) {
    if (!(error instanceof BucketAlreadyOwnedByYou)) throw error;
  }
  await s3.send(
    new PutBucketCorsCommand({
      Bucket: names.bucket,
      CORSConfiguration: {
        CORSRules: [
          {
            AllowedMethods: ['POST', 'GET'],
            AllowedOrigins: names.corsOrigins.length > 0 ? names.corsOrigins : ['*'],
            AllowedHeaders: ['*'],
            MaxAgeSeconds: 600,
          },
        ],
      },
    }),
  );

  const redriven = (name: string) =>
    createQueueWithDlq(sqs, name, names.maxReceiveCount, names.visibilityTimeoutSeconds);
  const queue = await redriven(names.ingestQueue);
  await redriven(names.classifyQueue);
  const tasks = await redriven(names.taskQueue);
  try {
    await new SchedulerClient({}).send(new CreateScheduleGroupCommand({ Name: names.scheduleGroup }));
  } catch (error) {
    if (!(error instanceof ConflictException)) throw error;
  }
  await sqs.send(
    new SetQueueAttributesCommand({
      QueueUrl: queue.url,
      Attributes: {
        Policy: JSON.stringify({
          Version: '2012-10-17',
          Statement: [
            {
              Effect: 'Allow',
              Principal: { Service: 's3.amazonaws.com' },
              Action: 'sqs:SendMessage',
              Resource: queue.arn,
              Condition: { ArnLike: { 'aws:SourceArn': `arn:aws:s3:::${names.bucket}` } },
            },
          ],
        }),
      },
    }),
  );
  await s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: names.bucket,
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            QueueArn: queue.arn,
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: UPLOADS_PREFIX }] } },
          },
        ],
      },
    }),
  );
  if (names.emailsFrom) {
    try {
      await new SESv2Client({}).send(new CreateEmailIdentityCommand({ EmailIdentity: names.emailsFrom }));
    } catch (error) {
      if (!(error instanceof AlreadyExistsException)) throw error;
    }
  }
  if (names.eventBus) {
    try {
      await new EventBridgeClient({}).send(new CreateEventBusCommand({ Name: names.eventBus }));
    } catch (error) {
      if (!(error instanceof ResourceAlreadyExistsException)) throw error;
    }
  }
  return { taskQueueArn: tasks.arn };
}
