import { type IAspect, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { IConstruct } from 'constructs';

/**
 * Telemetry settings for every function of the stack, nested stacks included, applied as an
 * aspect so no construct that makes functions has to remember them:
 *
 * - `POWERTOOLS_SERVICE_NAME` = the stack's name: the `service` dimension of the app's metrics
 *   (lib/observability/metrics.ts), which the alarms and the dashboard read, so stages sharing
 *   an account keep their metrics apart.
 * - With `tracing`: X-Ray active tracing, `POWERTOOLS_TRACE_ENABLED=true` (the app then loads
 *   Powertools Tracer, lib/observability/tracing.ts) and the X-Ray write grant on each role.
 *   Off by default: traces cost per request recorded, and sampling (the first request each
 *   second and 5 % of the rest) still adds up on a busy API.
 */
export class Telemetry implements IAspect {
  private readonly granted = new Set<iam.IRole>();

  constructor(private readonly options: { tracing: boolean; service: string }) {}

  visit(node: IConstruct): void {
    if (!(node instanceof lambda.Function)) return;
    node.addEnvironment('POWERTOOLS_SERVICE_NAME', this.options.service);
    if (!this.options.tracing) return;
    node.addEnvironment('POWERTOOLS_TRACE_ENABLED', 'true');
    (node.node.defaultChild as lambda.CfnFunction).tracingConfig = { mode: lambda.Tracing.ACTIVE };
    const role = node.role;
    if (role && !this.granted.has(role)) {
      this.granted.add(role);
      role.addToPrincipalPolicy(
        new iam.PolicyStatement({
          actions: ['xray:PutTraceSegments', 'xray:PutTelemetryRecords'],
          // X-Ray's write actions take no resource.
          resources: ['*'],
        }),
      );
      Validations.of(role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'xray:PutTraceSegments and xray:PutTelemetryRecords act on no resource: X-Ray accepts only * for them.',
      });
    }
  }
}
