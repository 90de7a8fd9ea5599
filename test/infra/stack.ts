import { readFileSync } from 'node:fs';
import path from 'node:path';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { PROJECT_ROOT } from '#infra/constructs/app-function.ts';
import { DocsiftStack, type DocsiftStackProps } from '#infra/docsift-stack.ts';

/** cdk.json's context (feature flags), so tests synthesize what `cdk synth` does. */
export function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as {
    context: Record<string, unknown>;
  };
  return cdkJson.context;
}

/**
 * Builds the docsift stack the way `cdk synth` does, minus bundling: an empty
 * `aws:cdk:bundling-stacks` makes every NodejsFunction skip esbuild, keeping tests fast.
 */
export function buildStack(props: DocsiftStackProps = {}): {
  app: App;
  stack: DocsiftStack;
  template: Template;
} {
  const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  const stack = new DocsiftStack(app, 'Docsift', { migrationRunId: 'test', ...props });
  return { app, stack, template: Template.fromStack(stack) };
}

export type Resource = { Type: string; Properties: Record<string, any>; DependsOn?: string[] };
export type Statement = {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, unknown>;
};

/** Lookups over a synthesized template's resources, shared by the template tests. */
export function inspect(template: Template) {
  const resources = template.toJSON().Resources as Record<string, Resource>;
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
  /** The statements of the policies attached to a function's role. */
  const statementsOf = (fn: Resource): Statement[] => {
    const roleId = fn.Properties.Role['Fn::GetAtt'][0];
    return ofType('AWS::IAM::Policy')
      .filter(([, p]) => p.Properties.Roles.some((r: { Ref: string }) => r.Ref === roleId))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
  };
  /** The Allow statements granting an action, to whichever resources. */
  const grantsOf = (fn: Resource, action: string) =>
    statementsOf(fn).filter((s) => s.Effect === 'Allow' && [s.Action].flat().includes(action));
  return { resources, ofType, statementsOf, grantsOf };
}
