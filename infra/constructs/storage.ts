import { Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as s3n from 'aws-cdk-lib/aws-s3-notifications';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct, type IConstruct } from 'constructs';
import { EXPORTS_PREFIX } from '#lib/classify/export.ts';
import { UPLOADS_PREFIX } from '#lib/ingest/messages.ts';

/** Largest upload the presigned POST policy accepts, by default: 100 MiB. */
export const DEFAULT_MAX_UPLOAD_BYTES = 100 * 1024 * 1024;

/** How long a browser may cache the answer to a CORS preflight, as in lib/aws/resources.ts. */
const CORS_MAX_AGE_SECONDS = 600;

export interface StorageProps {
  /** Browser origins that may POST uploads and GET downloads. Empty allows any origin. */
  corsOrigins: string[];
  /** Receives an ObjectCreated notification for every object under `workspaces/`. */
  uploadsQueue: sqs.IQueue;
  /** Largest upload in bytes (the presigned POST's content-length-range). Default 100 MiB. */
  maxUploadBytes?: number;
}

/**
 * The uploads bucket: documents that browsers upload with presigned POSTs, under
 * `workspaces/<workspace>/datasources/<datasource>/<file>`. Every new object there is announced
 * to the ingest queue, whose worker turns it into records.
 *
 * Private (all public access blocked, ACLs disabled, TLS only), S3-managed encryption,
 * unversioned: a datasource's objects are deleted by the API when the datasource is, and
 * nothing else overwrites them, so versions would only keep deleted documents around.
 *
 * No lifecycle expiry for uploads: an object is only ever created by an upload that the API
 * presigned for a datasource it had just recorded, so there are no orphans to expire. Large
 * exports (under `exports/`) expire after a day. An abandoned presigned
 * upload simply never creates an object, and incomplete multipart uploads are aborted after a day.
 *
 * Server access logs go to a separate bucket, kept 90 days like the API's access logs: they
 * are the only record of who fetched which document through a presigned URL.
 */
export class Storage extends Construct {
  readonly uploads: s3.Bucket;
  readonly accessLogs: s3.Bucket;
  readonly maxUploadBytes: number;

  constructor(scope: Construct, id: string, props: StorageProps) {
    super(scope, id);
    this.maxUploadBytes = props.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;

    this.accessLogs = new s3.Bucket(this, 'AccessLogs', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      // S3 server access logging can only write to SSE-S3 encrypted buckets.
      encryption: s3.BucketEncryption.S3_MANAGED,
      lifecycleRules: [{ expiration: Duration.days(90) }],
    });
    Validations.of(this.accessLogs).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This is the access-log bucket of the uploads bucket; logging its own access would log the log deliveries. Only S3 log delivery writes here and nothing reads it but operators.',
    });

    this.uploads = new s3.Bucket(this, 'Uploads', {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      encryption: s3.BucketEncryption.S3_MANAGED,
      versioned: false,
      serverAccessLogsBucket: this.accessLogs,
      serverAccessLogsPrefix: 'uploads/',
      cors: [
        {
          // Browsers POST the presigned form and GET presigned downloads; the URL's signature
          // is the authorization, so any origin is harmless when none is configured.
          allowedMethods: [s3.HttpMethods.POST, s3.HttpMethods.GET],
          allowedOrigins: props.corsOrigins.length > 0 ? props.corsOrigins : ['*'],
          allowedHeaders: ['*'],
          maxAge: CORS_MAX_AGE_SECONDS,
        },
      ],
      lifecycleRules: [
        { abortIncompleteMultipartUploadAfter: Duration.days(1) },
        // Exports too large to answer inline wait here for their download link, then go.
        { prefix: EXPORTS_PREFIX, expiration: Duration.days(1) },
      ],
    });

    // Through CDK's notifications custom resource: CloudFormation's own NotificationConfiguration
    // would need the queue policy before the bucket and the bucket ARN in the policy, a cycle.
    this.uploads.addEventNotification(
      s3.EventType.OBJECT_CREATED,
      new s3n.SqsDestination(props.uploadsQueue),
      { prefix: UPLOADS_PREFIX },
    );
    acknowledgeNotificationsHandler(Stack.of(this));
  }

  /** What a function needs in its environment to use the bucket (read by lib/config.ts). */
  environment(): Record<string, string> {
    return { UPLOADS_BUCKET: this.uploads.bucketName, MAX_UPLOAD_BYTES: String(this.maxUploadBytes) };
  }

  /**
   * The API's access: presigned POSTs are signed with the function role's credentials, so the
   * role itself needs PutObject; presigned downloads need GetObject; deleting a datasource
   * lists and deletes its objects.
   */
  grantApiAccess(grantee: iam.IGrantable & IConstruct): void {
    this.grantObjects(grantee, ['s3:PutObject', 's3:GetObject', 's3:DeleteObject']);
    // Exports: downloaded through a presigned GET; a share link's large export is streamed
    // there (multipart, aborted on failure) within the request. The bucket expires them.
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'],
        resources: [this.uploads.arnForObjects(`${EXPORTS_PREFIX}*`)],
      }),
    );
    const bucketId = Stack.of(this).getLogicalId(this.uploads.node.defaultChild as s3.CfnBucket);
    Validations.of(grantee).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${EXPORTS_PREFIX}*]`,
      reason:
        'Export keys are created per export at run time; put, get and abort only, on the exports prefix of the one bucket, whose objects expire after a day.',
    });
  }

  /**
   * The ingest worker's access: reads uploads, copies an accepted one to the datasource's own key
   * (a copy is a PutObject), deletes strays and the folders of deleted owners.
   */
  grantWorkerAccess(grantee: iam.IGrantable & IConstruct): void {
    this.grantObjects(grantee, ['s3:GetObject', 's3:PutObject', 's3:DeleteObject']);
    // Bundle exports: streamed as multipart uploads (aborted on failure) under the exports prefix.
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['s3:PutObject', 's3:GetObject', 's3:AbortMultipartUpload'],
        resources: [this.uploads.arnForObjects(`${EXPORTS_PREFIX}*`)],
      }),
    );
    const bucketId = Stack.of(this).getLogicalId(this.uploads.node.defaultChild as s3.CfnBucket);
    Validations.of(grantee).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${EXPORTS_PREFIX}*]`,
      reason:
        'Bundle export keys are created per export at run time; put, get and abort only, on the exports prefix of the one bucket, whose objects expire after a day.',
    });
  }

  /**
   * The given object actions on `workspaces/*` only, plus ListBucket: without it S3 answers
   * 403 instead of 404 for a missing key, and the object store could not tell the two apart.
   * Named actions rather than CDK's grantRead/grantPut, whose wildcards (s3:GetObject*,
   * s3:PutObjectRetention, …) give more than the app uses.
   */
  private grantObjects(grantee: iam.IGrantable & IConstruct, actions: string[]): void {
    const objects = this.uploads.arnForObjects(`${UPLOADS_PREFIX}*`);
    grantee.grantPrincipal.addToPrincipalPolicy(new iam.PolicyStatement({ actions, resources: [objects] }));
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.uploads.bucketArn] }),
    );
    const bucketId = Stack.of(this).getLogicalId(this.uploads.node.defaultChild as s3.CfnBucket);
    Validations.of(grantee).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${UPLOADS_PREFIX}*]`,
      reason:
        'Object keys are per workspace and datasource, created at run time; the grant is scoped to the uploads prefix of the one bucket, and the app checks workspace ownership before it signs or touches a key.',
    });
  }
}

/**
 * CDK's bucket-notifications handler is a stack-wide singleton Lambda (Python, inline code),
 * created by the first addEventNotification: its acknowledgment lives beside the notification.
 */
function acknowledgeNotificationsHandler(stack: Stack): void {
  const handler = stack.node.children.find((c) => c.node.id.startsWith('BucketNotificationsHandler'));
  if (!handler) throw new Error('CDK created no bucket-notifications handler: move its acknowledgment');
  Validations.of(handler).acknowledge({
    id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
    reason:
      "CDK's own bucket-notifications custom resource, run by CloudFormation during deployments only: AWSLambdaBasicExecutionRole is the AWS-maintained minimum for writing its logs, and CDK shapes its role.",
  });
}
