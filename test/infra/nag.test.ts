import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { buildStack } from './stack.ts';

/** Every acknowledged cdk-nag rule in the app: where, which, and why. */
function acknowledgments(root: IConstruct): Array<{ path: string; id: string; reason: string }> {
  return root.node.findAll().flatMap((c) =>
    c.node.metadata
      .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
      .flatMap((m) => Object.entries(m.data as Record<string, string>))
      .filter(([id]) => /AwsSolutions-/.test(id))
      .map(([id, reason]) => ({ path: c.node.path, id, reason })),
  );
}

describe('cdk-nag AWS Solutions checks', () => {
  // Both shapes: every optional feature on (mail, seed, CORS, Bedrock), and the bare defaults.
  const variants = {
    'all features': {
      corsOrigins: ['https://app.example.com'],
      emailsFrom: 'a@example.com',
      firstSuperuserEmail: 'b@example.com',
      bedrockModels: ['amazon.nova-lite-v1:0'],
      classifierDefaultProvider: 'bedrock' as const,
      tracing: true,
      alarmEmail: 'ops@example.com',
    },
    defaults: {},
  };

  for (const [name, props] of Object.entries(variants)) {
    it(`finds no unacknowledged error or warning (${name})`, () => {
      const { app } = buildStack(props);
      const report = new AwsSolutionsChecks().validateScope(app);
      const findings = report.violations
        .filter((v) => v.severity === 'error' || v.severity === 'warning')
        .map(
          (v) =>
            `${v.severity} ${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`,
        );
      expect(findings).toEqual([]);
      // cdk-nag walks every resource: 10–20 s alone with every feature on, over 30 s in a full run.
    }, 90_000);
  }

  it("acknowledges the route functions' IAM findings once, on their two shared roles", () => {
    const { app, stack } = buildStack(variants['all features']);
    const acks = acknowledgments(app).filter(
      (a) => a.path === stack.api.node.path || a.path.startsWith(`${stack.api.node.path}/`),
    );
    const rolePath = stack.api.functionRole.node.path;
    const taskRolePath = stack.api.taskFunctionRole.node.path;
    // None on the route functions or their areas' stacks: only the API's own (authorization in
    // the functions), on the construct that holds the API and every area's routes.
    expect(acks.filter((a) => a.path !== rolePath && a.path !== taskRolePath)).toEqual([
      expect.objectContaining({
        path: stack.api.node.path,
        id: expect.stringMatching(/AwsSolutions-APIG4$/),
      }),
    ]);
    // The task routes' role: the managed policies, and the schedules of the stack's group.
    expect(acks.filter((a) => a.path === taskRolePath).map((a) => a.id)).toEqual([
      expect.stringMatching(/AwsSolutions-IAM4\[.*AWSLambdaBasicExecutionRole\]$/),
      expect.stringMatching(/AwsSolutions-IAM4\[.*AWSLambdaVPCAccessExecutionRole\]$/),
      expect.stringMatching(
        /AwsSolutions-IAM5\[Resource::arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule\/Docsift\/\*\]$/,
      ),
      // X-Ray's write actions (tracing is on in this variant), which take no resource.
      expect.stringMatching(/AwsSolutions-IAM5\[Resource::\*\]$/),
    ]);
    // The two Lambda managed policies, the uploads prefix and the exports prefix, X-Ray.
    expect(acks.filter((a) => a.path === rolePath).map((a) => a.id)).toEqual([
      expect.stringMatching(/AwsSolutions-IAM4\[.*AWSLambdaBasicExecutionRole\]$/),
      expect.stringMatching(/AwsSolutions-IAM4\[.*AWSLambdaVPCAccessExecutionRole\]$/),
      expect.stringMatching(
        /AwsSolutions-IAM5\[Resource::<StorageUploads[0-9A-F]{8}\.Arn>\/workspaces\/\*\]$/,
      ),
      expect.stringMatching(/AwsSolutions-IAM5\[Resource::<StorageUploads[0-9A-F]{8}\.Arn>\/exports\/\*\]$/),
      expect.stringMatching(/AwsSolutions-IAM5\[Resource::\*\]$/),
    ]);
  });

  it('gives every acknowledgment a specific written reason', () => {
    const acks = acknowledgments(buildStack(variants['all features']).app);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) expect(ack.reason.length, `${ack.id} at ${ack.path}`).toBeGreaterThanOrEqual(80);
  });
});
