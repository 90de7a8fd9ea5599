import { CfnOutput, Duration, Validations } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as triggers from 'aws-cdk-lib/triggers';
import { Construct } from 'constructs';
import { appFunction } from './app-function.ts';
import type { Database } from './database.ts';

export interface MigrationsProps {
  vpc: ec2.IVpc;
  securityGroup: ec2.ISecurityGroup;
  database: Database;
  /** Seeded as the first superuser, with a generated password kept in Secrets Manager. */
  firstSuperuserEmail?: string;
  /**
   * Changes on every synth by default, so the trigger re-runs on every deploy (migrations
   * and seed are idempotent). Pin it (context `migrationRunId`) to run only when the
   * function itself changes.
   */
  runId: string;
  /** Constructs that must wait for migrations, such as the API, so new code meets its schema. */
  executeBefore?: Construct[];
}

const MIGRATION_TIMEOUT = Duration.minutes(5);

/**
 * Schema migrations and seed, run inside the deployment: a CDK trigger invokes
 * functions/migrate.ts after the database and proxy exist, and a failure fails the deploy.
 *
 * A Trigger over our NodejsFunction rather than a triggers.TriggerFunction: TriggerFunction
 * takes a prebuilt `code` and so could not share the esbuild bundling of every other function.
 */
export class Migrations extends Construct {
  readonly function: NodejsFunction;
  readonly trigger: triggers.Trigger;
  readonly firstSuperuserPassword: secretsmanager.Secret | undefined;

  constructor(scope: Construct, id: string, props: MigrationsProps) {
    super(scope, id);
    const environment: Record<string, string> = {
      PLATFORM: 'aws',
      ...props.database.connectionEnvironment(),
      MIGRATION_RUN_ID: props.runId,
    };
    if (props.firstSuperuserEmail) {
      this.firstSuperuserPassword = new secretsmanager.Secret(this, 'FirstSuperuserPassword', {
        description: `docsift: initial password of ${props.firstSuperuserEmail}`,
        generateSecretString: { excludePunctuation: true, passwordLength: 32 },
      });
      Validations.of(this.firstSuperuserPassword).acknowledge({
        id: 'AwsSolutions-SMG4',
        reason:
          'A one-time initial password: the seed only uses it when it creates the superuser, who then changes it in the app; rotating the secret would not change the password.',
      });
      environment.FIRST_SUPERUSER = props.firstSuperuserEmail;
      environment.FIRST_SUPERUSER_PASSWORD_ARN = this.firstSuperuserPassword.secretArn;
      new CfnOutput(this, 'FirstSuperuserPasswordArn', {
        value: this.firstSuperuserPassword.secretArn,
        description: `Secret holding the initial password of ${props.firstSuperuserEmail}`,
      });
    }

    this.function = appFunction(this, 'Migrate', {
      entry: 'functions/migrate.ts',
      handler: 'handler',
      description: 'docsift: apply database migrations and seed the first superuser',
      vpc: props.vpc,
      securityGroup: props.securityGroup,
      environment,
      timeout: MIGRATION_TIMEOUT,
    });
    props.database.grantConnect(this.function);
    this.firstSuperuserPassword?.grantRead(this.function);

    this.trigger = new triggers.Trigger(this, 'Trigger', {
      handler: this.function,
      timeout: MIGRATION_TIMEOUT,
      executeAfter: [props.database],
      executeBefore: props.executeBefore ?? [],
    });
  }
}
