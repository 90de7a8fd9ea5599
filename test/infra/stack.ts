import { readFileSync } from 'node:fs';
import path from 'node:path';
import { App, NestedStack, type Stack } from 'aws-cdk-lib';
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
 *
 * `template` is the parent stack's; `nested` each nested stack's (the API's areas), by
 * construct path; `flat` all of them in one, see flatten.
 */
export function buildStack(props: DocsiftStackProps = {}): {
  app: App;
  stack: DocsiftStack;
  template: Template;
  nested: Map<string, Template>;
  flat: Template;
} {
  const app = new App({ context: { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] } });
  const stack = new DocsiftStack(app, 'Docsift', { migrationRunId: 'test', ...props });
  const template = Template.fromStack(stack);
  const nested = new Map(nestedStacksOf(stack).map((n) => [n.node.path, Template.fromStack(n)]));
  return { app, stack, template, nested, flat: flatten(stack, template) };
}

/** The nested stacks of a stack (the API's areas). */
export function nestedStacksOf(stack: Stack): NestedStack[] {
  return stack.node.findAll().filter(NestedStack.isNestedStack);
}

/**
 * The parent's resources and every nested stack's in one template, each nested parameter
 * replaced by the value the parent passes it: a route function's role reads
 * `{"Fn::GetAtt": [<role>, "Arn"]}` as in a single stack, so the same assertions hold whichever
 * stack a resource lives in. Logical ids are unique across them (checked).
 */
export function flatten(stack: Stack, template: Template = Template.fromStack(stack)): Template {
  const parent = template.toJSON() as { Resources: Record<string, Resource> };
  const resources: Record<string, unknown> = { ...parent.Resources };
  for (const child of nestedStacksOf(stack)) {
    const parameters = parent.Resources[stack.getLogicalId(child.nestedStackResource!)]!.Properties
      .Parameters as Record<string, unknown> | undefined;
    const substitute = (value: unknown): unknown => {
      if (Array.isArray(value)) return value.map(substitute);
      if (value && typeof value === 'object') {
        const ref = (value as { Ref?: string }).Ref;
        if (Object.keys(value).length === 1 && ref && parameters && ref in parameters) return parameters[ref];
        return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, substitute(v)]));
      }
      return value;
    };
    for (const [id, resource] of Object.entries(Template.fromStack(child).toJSON().Resources ?? {})) {
      if (id in resources) throw new Error(`Logical id ${id} of ${child.node.path} is also elsewhere`);
      resources[id] = substitute(resource);
    }
  }
  return Template.fromJSON({ ...parent, Resources: resources });
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
