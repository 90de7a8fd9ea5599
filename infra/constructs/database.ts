import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as rds from 'aws-cdk-lib/aws-rds';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

/** PostgreSQL's port. RDS Proxy always listens on it, whatever the cluster's port. */
export const POSTGRES_PORT = 5432;

const DATABASE_NAME = 'docsift';

export interface DatabaseProps {
  vpc: ec2.IVpc;
  /** Refuse deletion and keep a snapshot on stack deletion. Default true; turn off for throwaway stacks. */
  deletionProtection?: boolean;
  /** Aurora capacity units. Default 0.5 to 4. */
  minCapacity?: number;
  maxCapacity?: number;
  /** Days of automated backups (point-in-time recovery). Default 7. */
  backupRetentionDays?: number;
}

/**
 * The database: Aurora PostgreSQL Serverless v2 behind RDS Proxy.
 *
 * Why Aurora Serverless v2: capacity follows load in half-ACU steps, so a mostly idle API
 * costs little while bursts of classification jobs still get a large instance, with no
 * instance class to pick and resize; it is plain PostgreSQL 16 to kysely and pg.
 * Why RDS Proxy: every Lambda container opens its own connections; under a burst hundreds
 * of containers would exhaust PostgreSQL's connection slots. The proxy pools them onto a few
 * server connections, fails over without clients noticing, and reads the credentials from
 * Secrets Manager itself. TLS is required between clients and the proxy.
 */
export class Database extends Construct {
  readonly cluster: rds.DatabaseCluster;
  readonly proxy: rds.DatabaseProxy;
  /** Credentials JSON {host, port, username, password, dbname}, as lib/db/database.ts reads it. */
  readonly secret: secretsmanager.ISecret;

  constructor(scope: Construct, id: string, props: DatabaseProps) {
    super(scope, id);
    const deletionProtection = props.deletionProtection ?? true;
    const subnets: ec2.SubnetSelection = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED };

    // Our own secret object, so the suppression below sits on it; the cluster attaches host and port.
    const credentials = new rds.DatabaseSecret(this, 'Credentials', {
      username: 'docsift',
      dbname: DATABASE_NAME,
    });
    this.cluster = new rds.DatabaseCluster(this, 'Cluster', {
      engine: rds.DatabaseClusterEngine.auroraPostgres({
        version: rds.AuroraPostgresEngineVersion.VER_16_13,
      }),
      credentials: rds.Credentials.fromSecret(credentials),
      defaultDatabaseName: DATABASE_NAME,
      port: POSTGRES_PORT,
      writer: rds.ClusterInstance.serverlessV2('Writer', { publiclyAccessible: false }),
      serverlessV2MinCapacity: props.minCapacity ?? 0.5,
      serverlessV2MaxCapacity: props.maxCapacity ?? 4,
      vpc: props.vpc,
      vpcSubnets: subnets,
      storageEncrypted: true,
      backup: { retention: Duration.days(props.backupRetentionDays ?? 7) },
      deletionProtection,
      removalPolicy: deletionProtection ? RemovalPolicy.SNAPSHOT : RemovalPolicy.DESTROY,
      cloudwatchLogsExports: ['postgresql'],
      // TLS on every connection to the cluster too, not only between clients and the proxy.
      parameters: { 'rds.force_ssl': '1' },
    });
    this.secret = this.cluster.secret!;

    this.proxy = this.cluster.addProxy('Proxy', {
      vpc: props.vpc,
      vpcSubnets: subnets,
      secrets: [this.secret],
      requireTLS: true,
      iamAuth: false,
    });

    Validations.of(this.cluster).acknowledge({
      id: 'AwsSolutions-RDS6',
      reason:
        'Clients never reach the cluster: they connect through RDS Proxy with the credentials secret, and only the proxy security group may connect to the cluster.',
    });
    Validations.of(this.cluster).acknowledge({
      id: 'AwsSolutions-RDS11',
      reason:
        'RDS Proxy for PostgreSQL listens on 5432 whatever the cluster port, and the app takes the port from the credentials secret; a non-default cluster port would break that and hide nothing behind a private, security-group-guarded network.',
    });
    Validations.of(credentials).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'Functions cache the database password per container (lib/ports/secrets/aws.ts) and authenticate to the proxy with it, so a rotation would fail warm functions until they recycle; enable once the app re-reads the secret on authentication failure.',
    });
  }

  /** What a function needs in its environment to connect (read by lib/db/database.ts). */
  connectionEnvironment(): Record<string, string> {
    return { DATABASE_SECRET_ARN: this.secret.secretArn, DATABASE_PROXY_ENDPOINT: this.proxy.endpoint };
  }

  /**
   * Lets a function connect: read access to the credentials secret, and its security groups
   * into the proxy on PostgreSQL's port (functions sharing a group share one rule).
   */
  grantConnect(fn: iam.IGrantable & ec2.IConnectable): void {
    this.secret.grantRead(fn);
    this.proxy.connections.allowFrom(
      fn,
      ec2.Port.tcp(POSTGRES_PORT),
      'docsift functions to the database proxy',
    );
  }
}
