import { Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildStack } from './stack.ts';

type Resource = { Type: string; Properties: Record<string, any>; DependsOn?: string[] };

const { stack, template } = buildStack({ firstSuperuserEmail: 'admin@example.com' });
const resources = template.toJSON().Resources as Record<string, Resource>;
const logicalId = (token: string) => (stack.resolve(token) as { Ref: string }).Ref;

describe('database', () => {
  it('is Aurora PostgreSQL 16 Serverless v2, encrypted, backed up, protected from deletion', () => {
    template.hasResourceProperties('AWS::RDS::DBCluster', {
      Engine: 'aurora-postgresql',
      EngineVersion: Match.stringLikeRegexp('^16\\.'),
      ServerlessV2ScalingConfiguration: { MinCapacity: 0.5, MaxCapacity: 4 },
      StorageEncrypted: true,
      BackupRetentionPeriod: 7,
      DeletionProtection: true,
      DatabaseName: 'docsift',
    });
    template.hasResource('AWS::RDS::DBCluster', { DeletionPolicy: 'Snapshot' });
    template.hasResourceProperties('AWS::RDS::DBInstance', {
      DBInstanceClass: 'db.serverless',
      PubliclyAccessible: false,
    });
    template.hasResourceProperties('AWS::RDS::DBClusterParameterGroup', {
      Parameters: { 'rds.force_ssl': '1' },
    });
  });

  it('can drop deletion protection for throwaway stacks', () => {
    const throwaway = buildStack({ deletionProtection: false }).template;
    throwaway.hasResourceProperties('AWS::RDS::DBCluster', { DeletionProtection: false });
    throwaway.hasResource('AWS::RDS::DBCluster', { DeletionPolicy: 'Delete' });
  });

  it('sits behind an RDS Proxy that requires TLS, in isolated subnets', () => {
    template.hasResourceProperties('AWS::RDS::DBProxy', {
      EngineFamily: 'POSTGRESQL',
      RequireTLS: true,
      Auth: [
        {
          AuthScheme: 'SECRETS',
          IAMAuth: 'DISABLED',
          SecretArn: stack.resolve(stack.database.secret.secretArn),
        },
      ],
    });
    const isolated = stack.node
      .findAll()
      .filter((c) => c.node.path.includes('/Network/Vpc/databaseSubnet') && c.node.id === 'Subnet')
      .map((c) => ({ Ref: stack.getLogicalId(c as never) }));
    expect(isolated).toHaveLength(2);
    template.hasResourceProperties('AWS::RDS::DBProxy', { VpcSubnetIds: isolated });
  });
});

describe('migrations', () => {
  const migrateId = stack.getLogicalId(stack.migrations.function.node.defaultChild as never);
  const migrate = resources[migrateId]!;

  it('run functions/migrate.ts with the seed superuser and its generated password secret', () => {
    expect(migrateId).toMatch(/^MigrationsMigrate/);
    const passwordSecret = stack.migrations.firstSuperuserPassword!;
    expect(migrate.Properties.Environment.Variables).toMatchObject({
      PLATFORM: 'aws',
      FIRST_SUPERUSER: 'admin@example.com',
      FIRST_SUPERUSER_PASSWORD_ARN: stack.resolve(passwordSecret.secretArn),
      DATABASE_SECRET_ARN: stack.resolve(stack.database.secret.secretArn),
      MIGRATION_RUN_ID: 'test',
    });
    expect(migrate.Properties.Environment.Variables).not.toHaveProperty('FIRST_SUPERUSER_PASSWORD');
    template.hasOutput('*', { Value: stack.resolve(passwordSecret.secretArn) });
  });

  it('trigger after the database and proxy exist, and before the API and the workers change', () => {
    const [triggerId, trigger] = Object.entries(resources).find(([, r]) => r.Type === 'Custom::Trigger')!;
    expect(trigger.Properties.HandlerArn.Ref).toMatch(/^MigrationsMigrateCurrentVersion/);
    expect(trigger.DependsOn).toEqual(
      expect.arrayContaining([
        stack.getLogicalId(stack.database.cluster.node.defaultChild as never),
        stack.getLogicalId(stack.database.proxy.node.defaultChild as never),
      ]),
    );
    const httpApiId = logicalId(stack.api.httpApi.apiId);
    expect(resources[httpApiId]!.DependsOn).toContain(triggerId);
    // A worker's event source must not start writing before the schema it expects exists.
    const mappings = Object.values(resources).filter((r) => r.Type === 'AWS::Lambda::EventSourceMapping');
    // The ingest, classify and task queues and their dead-letter queues.
    expect(mappings).toHaveLength(6);
    for (const mapping of mappings) expect(mapping.DependsOn).toContain(triggerId);
    // The route functions, in the API areas' nested stacks: each whole nested stack waits.
    const areas = Object.values(resources).filter((r) => r.Type === 'AWS::CloudFormation::Stack');
    expect(areas).toHaveLength(stack.api.areas.size);
    for (const area of areas) expect(area.DependsOn).toContain(triggerId);
  });

  it('re-run on every deploy unless the run id is pinned', () => {
    const { stack: unpinnedStack, template: unpinned } = buildStack({ migrationRunId: undefined });
    const fnId = unpinnedStack.getLogicalId(unpinnedStack.migrations.function.node.defaultChild as never);
    const fn = (unpinned.toJSON().Resources as Record<string, Resource>)[fnId]!;
    expect(fn.Properties.Environment.Variables.MIGRATION_RUN_ID).toMatch(/^\d{4}-\d{2}-\d{2}T/);
  });

  it('create no password secret when no superuser is seeded', () => {
    const { stack: bare } = buildStack();
    expect(bare.migrations.firstSuperuserPassword).toBeUndefined();
  });
});
