import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { propsFromContext, stackNameFromContext } from './context.ts';
import { DocsiftStack } from './docsift-stack.ts';

const app = new App();
// No `env`: an environment-agnostic stack synthesizes offline (no AZ or account lookups) and
// deploys to whatever account and region the CLI's credentials name.
new DocsiftStack(app, stackNameFromContext(app.node), {
  description: 'docsift: document ingestion and LLM classification API',
  ...propsFromContext(app.node),
});
// cdk-nag's AWS Solutions rules fail the synth on any finding not acknowledged, with a reason, in the constructs.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
