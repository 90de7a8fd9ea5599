import { execFileSync } from 'node:child_process';
import { AssetHashType, DockerImage, Duration, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { bundleFunction, PROJECT_ROOT } from '../bundling.ts';

export { PROJECT_ROOT };

export interface AppFunctionProps {
  /** Entry file, relative to the repository root. */
  entry: string;
  /** Exported handler name in the entry file. */
  handler: string;
  vpc: ec2.IVpc;
  securityGroup: ec2.ISecurityGroup;
  environment: Record<string, string>;
  description?: string;
  timeout?: Duration;
  memorySize?: number;
  /**
   * The execution role, for functions that share one (see executionRole). Default a role of
   * the function's own, with the same two managed policies.
   */
  role?: iam.IRole;
  /**
   * The log group, for functions that share one. Default a log group of the function's own,
   * kept `logRetention`.
   */
  logGroup?: logs.ILogGroup;
  /** Retention of the function's own log group; not allowed with `logGroup`. Default one month. */
  logRetention?: logs.RetentionDays;
  /** Shell commands run after esbuild, given the input (repository root) and output (bundle) directories. */
  afterBundling?: (inputDir: string, outputDir: string) => string[];
}

/** The AWS-managed policies of every function's role: logging, and the ENIs of a VPC function. */
const EXECUTION_POLICIES = ['AWSLambdaBasicExecutionRole', 'AWSLambdaVPCAccessExecutionRole'];

/**
 * A Lambda execution role for several functions, with the managed policies that
 * NodejsFunction would give each function's own role (logging, VPC attachment). Grants added
 * to it apply to every function using it.
 *
 * @example const role = executionRole(this, 'FunctionRole', 'docsift HTTP API route functions');
 */
export function executionRole(scope: Construct, id: string, description: string): iam.Role {
  const role = new iam.Role(scope, id, {
    description,
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    managedPolicies: EXECUTION_POLICIES.map((policy) =>
      iam.ManagedPolicy.fromAwsManagedPolicyName(`service-role/${policy}`),
    ),
  });
  acknowledgeExecutionPolicies(role);
  return role;
}

/**
 * Creates one of docsift's Lambda functions with the settings they all share: Node 24 on
 * ARM64, an ESM bundle with lazily loaded chunks (infra/bundling.ts), private subnets, a log
 * group with retention.
 * Every function of the app goes through here, so the NodejsFunction props exist once.
 *
 * @example appFunction(this, 'UsersReadMe', { entry: 'functions/http/users.ts', handler: 'readMe', vpc, securityGroup, environment })
 */
export function appFunction(scope: Construct, id: string, props: AppFunctionProps): NodejsFunction {
  if (props.logGroup && props.logRetention) {
    throw new Error(
      `${id}: logRetention applies to the function's own log group; set it on the given logGroup`,
    );
  }
  // An explicit log group, so retention is set without the LogRetention custom resource Lambda.
  const logGroup =
    props.logGroup ??
    new logs.LogGroup(scope, `${id}Logs`, { retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH });
  const fn = new NodejsFunction(scope, id, {
    // Our own esbuild build (infra/bundling.ts: code splitting, the SDK bundled), which
    // NodejsFunction's bundler cannot do; the class stays for its Node.js runtime checks.
    code: bundledCode(props.entry, props.afterBundling),
    handler: `index.${props.handler}`,
    description: props.description,
    runtime: lambda.Runtime.NODEJS_24_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: props.memorySize ?? 1024,
    timeout: props.timeout ?? Duration.seconds(15),
    vpc: props.vpc,
    vpcSubnets: { subnets: props.vpc.privateSubnets },
    securityGroups: [props.securityGroup],
    // A given role is used as is: NodejsFunction adds the managed policies only to a role it creates.
    role: props.role,
    logGroup,
    // No --enable-source-maps: Node would read every bundle's map at each cold start (25 ms of
    // about 100 for a route). The bundles map a stack when one is formatted (infra/bundle/stack-traces.ts).
    environment: props.environment,
  });
  // A shared role carries its own acknowledgments (executionRole); the function's own role is its child.
  if (!props.role) acknowledgeExecutionPolicies(fn);
  return fn;
}

/**
 * An entry's bundle as a Lambda asset: built by {@link bundleFunction} into the asset's
 * directory, then `afterBundling`'s commands. Functions with the same entry and commands (the
 * routes of an area) share one build and one asset.
 */
function bundledCode(entry: string, afterBundling?: AppFunctionProps['afterBundling']): lambda.Code {
  return lambda.Code.fromAsset(PROJECT_ROOT, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Part of the asset's cache key, which must tell entries apart: CDK serializes these
      // options, not the local bundler below.
      command: ['bundle', entry, ...(afterBundling?.('<input>', '<output>') ?? [])],
      // Never pulled: local bundling always succeeds (esbuild is a dependency).
      image: DockerImage.fromRegistry('docsift-bundles-locally'),
      local: {
        tryBundle(outputDir) {
          bundleFunction(entry, outputDir);
          for (const command of afterBundling?.(PROJECT_ROOT, outputDir) ?? []) {
            execFileSync('bash', ['-c', command], { cwd: PROJECT_ROOT, stdio: 'inherit' });
          }
          return true;
        },
      },
    },
  });
}

function acknowledgeExecutionPolicies(scope: Construct): void {
  for (const policy of EXECUTION_POLICIES) {
    Validations.of(scope).acknowledge({
      id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/${policy}]`,
      reason: `${policy} is the AWS-maintained minimum for a function that writes logs and attaches to a VPC; a hand-written copy would only drift from it.`,
    });
  }
}
