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
