import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { routes } from '#lib/http/routes.ts';
import { Api, type ApiSettings } from './constructs/api.ts';
import { Database } from './constructs/database.ts';
import { Migrations } from './constructs/migrations.ts';
import { Network } from './constructs/network.ts';
import { Secrets } from './constructs/secrets.ts';

export interface DocsiftStackProps extends StackProps, ApiSettings {
  /** Browser origins allowed by CORS (BACKEND_CORS_ORIGINS locally). Default none: CORS off. */
  corsOrigins?: string[];
  /** Email of the superuser seeded on first deploy; its password is generated into a secret. */
  firstSuperuserEmail?: string;
  /** Protect the database from deletion (and snapshot it on stack deletion). Default true. */
  deletionProtection?: boolean;
  /** Set to pin the migration trigger; by default it changes on every synth so migrations run on every deploy. */
  migrationRunId?: string;
}

/** docsift on AWS: network, database, secrets, migrations, and the HTTP API. */
export class DocsiftStack extends Stack {
  readonly api: Api;
  readonly database: Database;
  readonly secrets: Secrets;
  readonly migrations: Migrations;

  constructor(scope: Construct, id: string, props: DocsiftStackProps = {}) {
    super(scope, id, props);
    const network = new Network(this, 'Network');
    this.database = new Database(this, 'Database', {
      vpc: network.vpc,
      deletionProtection: props.deletionProtection,
    });
    this.secrets = new Secrets(this, 'Secrets');
    this.api = new Api(this, 'Api', {
      routes,
      vpc: network.vpc,
      securityGroup: network.functionsSecurityGroup,
      database: this.database,
      jwtSigningKey: this.secrets.jwtSigningKey,
      corsOrigins: props.corsOrigins ?? [],
      settings: {
        frontendUrl: props.frontendUrl,
        usersOpenRegistration: props.usersOpenRegistration,
        accessTokenExpireMinutes: props.accessTokenExpireMinutes,
        logLevel: props.logLevel,
        emailsFrom: props.emailsFrom,
      },
    });
    this.migrations = new Migrations(this, 'Migrations', {
      vpc: network.vpc,
      securityGroup: network.functionsSecurityGroup,
      database: this.database,
      firstSuperuserEmail: props.firstSuperuserEmail,
      runId: props.migrationRunId ?? new Date().toISOString(),
      executeBefore: [this.api],
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.stage.url, description: 'Base URL of the docsift API' });
  }
}
