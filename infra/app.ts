import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { propsFromContext } from './context.ts';
import { DocsiftStack } from './docsift-stack.ts';

const app = new App();
// `-c stage=dev` names the stack Docsift-dev, so stages deploy side by side (queues, bucket,
// schedule group and secrets all take their names from the stack).
const stage = app.node.tryGetContext('stage') as string | undefined;
if (stage !== undefined && !/^[A-Za-z][A-Za-z0-9-]{0,20}$/.test(stage)) {
  throw new Error('Invalid CDK context:\n  stage: letters, digits and dashes, starting with a letter, at most 21');
}
// No `env`: an environment-agnostic stack synthesizes offline (no AZ or account lookups) and
// deploys to whatever account and region the CLI's credentials name.
new DocsiftStack(app, stage ? `Docsift-${stage}` : 'Docsift', {
  description: 'docsift: document ingestion and LLM classification API',
  ...propsFromContext(app.node),
});
// cdk-nag's AWS Solutions rules fail the synth on any finding not acknowledged, with a reason, in the constructs.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
