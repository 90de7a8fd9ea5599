import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

/**
 * The VPC: two AZs, one NAT gateway (functions reach Secrets Manager, SES, SQS and the web
 * pages the ingest worker scrapes through it; a second NAT would buy AZ-failure tolerance for
 * outbound calls at twice the cost), private subnets with egress for functions, isolated
 * subnets for the database, an S3 gateway endpoint, and flow logs.
 */
export class Network extends Construct {
  readonly vpc: ec2.Vpc;
  /** The security group of every docsift function: outbound only, allowed into the database proxy. */
  readonly functionsSecurityGroup: ec2.SecurityGroup;

  constructor(scope: Construct, id: string) {
    super(scope, id);
    this.vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 2,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        // Lambda ENIs draw from these: /22 leaves room for many concurrent functions.
        { name: 'functions', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
        { name: 'database', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
      ],
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'FlowLogs', { retention: logs.RetentionDays.ONE_MONTH }),
          ),
          trafficType: ec2.FlowLogTrafficType.ALL,
        },
      },
    });
    // The ingest worker reads uploads of up to 100 MB: through a gateway endpoint (free) rather
    // than the NAT gateway, which charges for every gigabyte it carries.
    this.vpc.addGatewayEndpoint('S3', {
      service: ec2.GatewayVpcEndpointAwsService.S3,
      subnets: [{ subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS }],
    });
    this.functionsSecurityGroup = new ec2.SecurityGroup(this, 'FunctionsSecurityGroup', {
      vpc: this.vpc,
      description: 'docsift Lambda functions (outbound only)',
      allowAllOutbound: true,
    });
  }
}
