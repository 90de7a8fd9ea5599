import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Duration, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';

/** The repository root: entries, the lock file and node_modules are resolved from here. */
export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * Prepended to every bundle. Our bundles are ESM, but CommonJS dependencies (pg among them)
 * call `require` for Node built-ins, which ESM does not define.
 */
export const REQUIRE_BANNER =
  "import { createRequire as __docsiftCreateRequire } from 'node:module'; const require = __docsiftCreateRequire(import.meta.url);";

/** Modules left out of every bundle: the runtime provides the AWS SDK; pg only probes for pg-native. */
export const EXTERNAL_MODULES = ['@aws-sdk/*', 'pg-native'];

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
 * ARM64, an ESM bundle built by local esbuild, private subnets, a log group with retention.
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
    entry: path.join(PROJECT_ROOT, props.entry),
    handler: props.handler,
    projectRoot: PROJECT_ROOT,
    depsLockFilePath: path.join(PROJECT_ROOT, 'package-lock.json'),
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
    environment: { NODE_OPTIONS: '--enable-source-maps', ...props.environment },
    bundling: {
      format: OutputFormat.ESM,
      target: 'node24',
      // Prefer the ESM build of dual packages, as Node's own resolution would under `import`.
      mainFields: ['module', 'main'],
      banner: REQUIRE_BANNER,
      externalModules: EXTERNAL_MODULES,
      minify: true,
      sourceMap: true,
      // Stack traces need the mappings, not the sources: keeps bundles (and cold starts) smaller.
      sourcesContent: false,
      commandHooks: {
        beforeBundling: () => [],
        beforeInstall: () => [],
        afterBundling: props.afterBundling ?? (() => []),
      },
    },
  });
  // A shared role carries its own acknowledgments (executionRole); the function's own role is its child.
  if (!props.role) acknowledgeExecutionPolicies(fn);
  return fn;
}

function acknowledgeExecutionPolicies(scope: Construct): void {
  for (const policy of EXECUTION_POLICIES) {
    Validations.of(scope).acknowledge({
      id: `AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/${policy}]`,
      reason: `${policy} is the AWS-maintained minimum for a function that writes logs and attaches to a VPC; a hand-written copy would only drift from it.`,
    });
  }
}
