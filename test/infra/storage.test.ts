import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { UPLOADS_PREFIX } from '#lib/ingest/messages.ts';
import { buildStack, inspect } from './stack.ts';

const { stack, template } = buildStack({ corsOrigins: ['https://app.example.com'] });
const { resources, ofType } = inspect(template);
const uploadsId = stack.getLogicalId(stack.storage.uploads.node.defaultChild as never);
const accessLogsId = stack.getLogicalId(stack.storage.accessLogs.node.defaultChild as never);
const uploads = resources[uploadsId]!;
const bucketArn = { 'Fn::GetAtt': [uploadsId, 'Arn'] };

/** The statements of a bucket's policy. */
const bucketPolicyOf = (bucketId: string) =>
  ofType('AWS::S3::BucketPolicy').find(([, p]) => p.Properties.Bucket.Ref === bucketId)![1].Properties
    .PolicyDocument.Statement as Array<Record<string, any>>;

describe('uploads bucket', () => {
  it('is private: all public access blocked, ACLs disabled', () => {
    expect(uploads.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(uploads.Properties.OwnershipControls).toEqual({
      Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }],
    });
  });

  it('refuses requests without TLS', () => {
    expect(bucketPolicyOf(uploadsId)).toContainEqual({
      Action: 's3:*',
      Condition: { Bool: { 'aws:SecureTransport': 'false' } },
      Effect: 'Deny',
      Principal: { AWS: '*' },
      Resource: [bucketArn, { 'Fn::Join': ['', [bucketArn, '/*']] }],
    });
  });

  it('is encrypted with S3-managed keys, unversioned, aborts stale multipart uploads, expires exports', () => {
    expect(uploads.Properties.BucketEncryption).toEqual({
      ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
    });
    expect(uploads.Properties.VersioningConfiguration).toBeUndefined();
    expect(uploads.Properties.LifecycleConfiguration).toEqual({
      Rules: [
        { AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 }, Status: 'Enabled' },
        { ExpirationInDays: 1, Prefix: 'exports/', Status: 'Enabled' },
      ],
    });
    // User documents outlive the stack unless deleted on purpose.
    expect(template.toJSON().Resources[uploadsId].DeletionPolicy).toBe('Retain');
  });

  it('lets the configured origins POST uploads and GET downloads', () => {
    expect(uploads.Properties.CorsConfiguration).toEqual({
      CorsRules: [
        {
          AllowedMethods: ['POST', 'GET'],
          AllowedOrigins: ['https://app.example.com'],
          AllowedHeaders: ['*'],
          MaxAge: 600,
        },
      ],
    });
  });

  it('lets any origin POST and GET when none is configured: presigned URLs authorize themselves', () => {
    const bare = buildStack();
    const id = bare.stack.getLogicalId(bare.stack.storage.uploads.node.defaultChild as never);
    expect(inspect(bare.template).resources[id]!.Properties.CorsConfiguration.CorsRules).toEqual([
      expect.objectContaining({ AllowedOrigins: ['*'], AllowedMethods: ['POST', 'GET'] }),
    ]);
  });

  it('announces every object created under workspaces/ to the ingest queue', () => {
    const queueArn = stack.resolve(stack.queues.ingest.queueArn);
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: uploadsId },
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: UPLOADS_PREFIX }] } },
            QueueArn: queueArn,
          },
        ],
      },
    });
    expect(UPLOADS_PREFIX).toBe('workspaces/');
    // The queue lets this bucket, and only it, send.
    template.hasResourceProperties('AWS::SQS::QueuePolicy', {
      Queues: [stack.resolve(stack.queues.ingest.queueUrl)],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Allow',
            Principal: { Service: 's3.amazonaws.com' },
            Action: Match.arrayWith(['sqs:SendMessage']),
            Resource: queueArn,
            Condition: { ArnLike: { 'aws:SourceArn': bucketArn } },
          }),
        ]),
      },
    });
  });

  it('logs server access to a private, TLS-only log bucket that keeps 90 days', () => {
    expect(uploads.Properties.LoggingConfiguration).toEqual({
      DestinationBucketName: { Ref: accessLogsId },
      LogFilePrefix: 'uploads/',
    });
    const logs = resources[accessLogsId]!.Properties;
    expect(logs.PublicAccessBlockConfiguration).toMatchObject({
      BlockPublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(logs.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault).toEqual({
      SSEAlgorithm: 'AES256',
    });
    expect(logs.LifecycleConfiguration.Rules).toEqual([{ ExpirationInDays: 90, Status: 'Enabled' }]);
    // Log delivery by bucket policy, from the uploads bucket of this account (no legacy ACL).
    expect(logs.AccessControl).toBeUndefined();
    const statements = bucketPolicyOf(accessLogsId);
    expect(statements).toContainEqual(
      expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'logging.s3.amazonaws.com' },
        Action: 's3:PutObject',
        Condition: {
          ArnLike: { 'aws:SourceArn': bucketArn },
          StringEquals: { 'aws:SourceAccount': { Ref: 'AWS::AccountId' } },
        },
      }),
    );
  });

  it('is reached from the functions through an S3 gateway endpoint, not the NAT gateway', () => {
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      VpcEndpointType: 'Gateway',
      ServiceName: Match.objectLike({ 'Fn::Join': ['', Match.arrayWith(['.s3'])] }),
      RouteTableIds: Match.arrayWith([Match.objectLike({ Ref: Match.stringLikeRegexp('functionsSubnet') })]),
    });
  });
});
