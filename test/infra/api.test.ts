import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { AUTH_ROUTES, areaOf, TASK_AREA } from '#infra/constructs/api.ts';
import { routeEntry, routeId } from '#infra/naming.ts';
import { routeKeyOf, variantsOf } from '#lib/http/compat.ts';
import type { Route } from '#lib/http/route.ts';
import { routes } from '#lib/http/routes.ts';
import {
  CORS_ALLOW_HEADERS,
  CORS_ALLOW_METHODS,
  CORS_EXPOSE_HEADERS,
  CORS_MAX_AGE_SECONDS,
} from '#lib/local/cors.ts';
import { buildStack, inspect, nestedStacksOf, type Resource } from './stack.ts';

const { stack, template, nested, flat } = buildStack({
  corsOrigins: ['https://app.example.com'],
  emailsFrom: 'noreply@example.com',
  frontendUrl: 'https://app.example.com',
});
// Every stack's resources in one view, nested parameters resolved (test/infra/stack.ts).
const { resources, ofType, statementsOf, grantsOf } = inspect(flat);
/** The recurring-task routes run under a role of their own (see scheduler.test.ts); the others share one. */
const taskRoutes = routes.filter((r) => areaOf(r) === TASK_AREA);
const sharedRoutes = routes.filter((r) => areaOf(r) !== TASK_AREA);
const idOf = (construct: { node: { defaultChild?: unknown } }) =>
  stack.getLogicalId(construct.node.defaultChild as never);
const roleId = idOf(stack.api.functionRole);
const taskRoleId = idOf(stack.api.taskFunctionRole);
const functionLogsId = idOf(stack.api.functionLogs);
/** Our functions: bundled by infra/bundling.ts (an S3 asset, handler `index.<export>`). */
const ours = () =>
  ofType('AWS::Lambda::Function').filter(
    ([, f]) => f.Properties.Handler.startsWith('index.') && f.Properties.Code.S3Key,
  );

/** Follows a route's RouteKey to its integration and on to the function's logical id. */
function functionOf(route: Route): [string, Resource] {
  const [, apiRoute] = ofType('AWS::ApiGatewayV2::Route').find(
    ([, r]) => r.Properties.RouteKey === `${route.method} ${route.path}`,
  )!;
  const integrationId = apiRoute.Properties.Target['Fn::Join'][1][1].Ref as string;
  const fnId = resources[integrationId]!.Properties.IntegrationUri['Fn::GetAtt'][0] as string;
  return [fnId, resources[fnId]!];
}

describe('HTTP API', () => {
  it('has one Lambda function per route, the migration, two ingest, two classify and two task functions, and three CDK-internal ones', () => {
    const functions = ofType('AWS::Lambda::Function');
    const ourIds = new Set(ours().map(([id]) => id));
    const internal = functions
      .filter(([id]) => !ourIds.has(id))
      .map(([id]) => id.replace(/[0-9A-F]{8}$/, '').replace(/Handler$/, ''))
      .sort();
    const routeFunctions = new Set(routes.map((r) => functionOf(r)[0]));
    const workers = [...ourIds]
      .filter((id) => !routeFunctions.has(id))
      .map((id) => id.replace(/[0-9A-F]{8}$/, ''));
    expect(workers.sort()).toEqual([
      'ClassifyDeadLetters',
      'ClassifyWorker',
      'IngestDeadLetters',
      'IngestWorker',
      'MigrationsMigrate',
      'SchedulerDeadLetters',
      'SchedulerWorker',
    ]);
    expect(ourIds.size).toBe(routes.length + 7);
    // The trigger's custom-resource provider, the one that strips the VPC's default security
    // group, and the one that puts the uploads bucket's notification configuration.
    expect(internal).toEqual([
      'AWSCDKTriggerCustomResourceProviderCustomResourceProvider',
      'BucketNotificationsHandler050a0587b7544547bf325f094a3db834',
      'CustomVpcRestrictDefaultSGCustomResourceProvider',
    ]);
    expect(functions).toHaveLength(routes.length + 10);
  });

  it("puts each area's functions, permissions, integrations and routes in a nested stack of its own", () => {
    const areas = [...new Set(routes.map(areaOf))];
    expect([...nested.keys()].sort()).toEqual(
      areas.map((a) => `Docsift/Api/${a[0]!.toUpperCase()}${a.slice(1)}`).sort(),
    );
    // The parent keeps the API, its stage and the shared role and log group, and no route.
    const parentTypes = new Set(
      Object.values(template.toJSON().Resources as Record<string, Resource>).map((r) => r.Type),
    );
    for (const type of ['AWS::ApiGatewayV2::Api', 'AWS::ApiGatewayV2::Stage'])
      expect(parentTypes).toContain(type);
    for (const type of ['AWS::ApiGatewayV2::Route', 'AWS::ApiGatewayV2::Integration']) {
      expect(parentTypes).not.toContain(type);
    }
    template.resourceCountIs('AWS::CloudFormation::Stack', areas.length);
    for (const route of routes) {
      const area = areaOf(route);
      const own = nested.get(`Docsift/Api/${area[0]!.toUpperCase()}${area.slice(1)}`)!.toJSON()
        .Resources as Record<string, Resource>;
      const [fnId] = functionOf(route);
      expect(own[fnId]?.Type, route.handler).toBe('AWS::Lambda::Function');
      const [routeResourceId] = Object.entries(own).find(
        ([, r]) =>
          r.Type === 'AWS::ApiGatewayV2::Route' && r.Properties.RouteKey === `${route.method} ${route.path}`,
      )!;
      const integrationId = own[routeResourceId]!.Properties.Target['Fn::Join'][1][1].Ref;
      expect(own[integrationId]?.Type, route.handler).toBe('AWS::ApiGatewayV2::Integration');
      const permissions = Object.values(own).filter(
        (r) => r.Type === 'AWS::Lambda::Permission' && r.Properties.FunctionName['Fn::GetAtt']?.[0] === fnId,
      );
      expect(permissions, route.handler).toHaveLength(1);
    }
    // One HTTP API and one stage for all of them.
    flat.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    flat.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
  });

  it('declares exactly the route table, each route on its own function and export', () => {
    const routeKeys = ofType('AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties.RouteKey);
    // Every route at its own path, and the reference-client profile's paths onto the same functions.
    expect(routeKeys.sort()).toEqual(routes.flatMap((r) => variantsOf(r).map(routeKeyOf)).sort());
    const functionIds = new Set<string>();
    for (const route of routes) {
      const [fnId, fn] = functionOf(route);
      expect(fnId).toMatch(new RegExp(`^${routeId(route)}[0-9A-F]{8}$`));
      expect(fn.Properties.Handler).toBe(`index.${routeEntry(route).exportName}`);
      functionIds.add(fnId);
    }
    expect(functionIds.size).toBe(routes.length);
  });

  it('runs every function of ours on Node 24, ARM64, in the VPC, without Node reading source maps at start', () => {
    for (const [, fn] of ours()) {
      expect(fn.Properties.Runtime).toBe('nodejs24.x');
      expect(fn.Properties.Architectures).toEqual(['arm64']);
      expect(fn.Properties.VpcConfig.SubnetIds).toHaveLength(2);
      expect(fn.Properties.Environment.Variables).toMatchObject({ PLATFORM: 'aws' });
      // The bundles map a stack when one is formatted (infra/bundle/stack-traces.ts).
      expect(fn.Properties.Environment.Variables.NODE_OPTIONS).toBeUndefined();
      expect(fn.Properties.LoggingConfig.LogGroup.Ref).toMatch(/Logs/);
    }
  });

  it('runs every route function under one shared execution role (the task routes under a second), with the Lambda managed policies', () => {
    for (const route of sharedRoutes) {
      expect(functionOf(route)[1].Properties.Role, route.handler).toEqual({ 'Fn::GetAtt': [roleId, 'Arn'] });
    }
    for (const route of taskRoutes) {
      expect(functionOf(route)[1].Properties.Role, route.handler).toEqual({
        'Fn::GetAtt': [taskRoleId, 'Arn'],
      });
    }
    expect(taskRoutes.length).toBeGreaterThan(0);
    // No role or policy of a route's own; the workers and the migration keep theirs.
    const isApi = (id: string) => id.startsWith('Api') || ours().some(([f]) => f === id);
    const apiRoles = ofType('AWS::IAM::Role').filter(([id]) => isApi(id));
    expect(apiRoles.map(([id]) => id).sort()).toEqual([roleId, taskRoleId].sort());
    const apiPolicies = ofType('AWS::IAM::Policy').filter(([id]) => id.startsWith('Api'));
    expect(apiPolicies.map(([, p]) => p.Properties.Roles).sort()).toEqual(
      [[{ Ref: roleId }], [{ Ref: taskRoleId }]].sort(),
    );
    const users = ours().filter(([, f]) => f.Properties.Role['Fn::GetAtt'][0] === roleId);
    expect(users).toHaveLength(sharedRoutes.length);
    for (const id of [roleId, taskRoleId]) {
      expect(resources[id]!.Properties.AssumeRolePolicyDocument).toEqual(
        resources[roleId]!.Properties.AssumeRolePolicyDocument,
      );
      expect(resources[id]!.Properties.ManagedPolicyArns).toEqual(
        resources[roleId]!.Properties.ManagedPolicyArns,
      );
    }
    const role = resources[roleId]!.Properties;
    expect(role.AssumeRolePolicyDocument.Statement).toEqual([
      { Action: 'sts:AssumeRole', Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' } },
    ]);
    const managed = role.ManagedPolicyArns.map((arn: { 'Fn::Join': [string, unknown[]] }) =>
      String(arn['Fn::Join'][1].at(-1)),
    );
    expect(managed).toEqual([
      ':iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
      ':iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole',
    ]);
    // Everything any route needs and nothing more: the grants are asserted one by one below.
    const actions = apiPolicies
      .filter(([, p]) => p.Properties.Roles[0].Ref === roleId)
      .flatMap(([, p]) =>
        p.Properties.PolicyDocument.Statement.flatMap((st: { Action: string | string[] }) =>
          [st.Action].flat(),
        ),
      );
    expect([...new Set(actions)].sort()).toEqual([
      's3:AbortMultipartUpload',
      's3:DeleteObject',
      's3:GetObject',
      's3:ListBucket',
      's3:PutObject',
      'secretsmanager:DescribeSecret',
      'secretsmanager:GetSecretValue',
      'ses:SendEmail',
      'sqs:GetQueueAttributes',
      'sqs:GetQueueUrl',
      'sqs:SendMessage',
    ]);
  });
  it('logs every route function to one log group kept a month, and each other function to its own', () => {
    for (const route of routes) {
      expect(functionOf(route)[1].Properties.LoggingConfig, route.handler).toEqual({
        LogGroup: { Ref: functionLogsId },
      });
    }
    expect(resources[functionLogsId]!.Properties.RetentionInDays).toBe(30);
    // The route functions' group and the stage's access logs: no log group of a route's own.
    const apiLogGroups = ofType('AWS::Logs::LogGroup').filter(([id]) => id.startsWith('Api'));
    expect(apiLogGroups.map(([id]) => id)).toHaveLength(2);
    expect(apiLogGroups.map(([id]) => id)).toEqual(
      expect.arrayContaining([functionLogsId, expect.stringMatching(/^ApiAccessLogs/)]),
    );
    const others = ours().filter(([, f]) => f.Properties.LoggingConfig.LogGroup.Ref !== functionLogsId);
    expect(others).toHaveLength(7);
    const otherGroups = new Set(others.map(([, f]) => f.Properties.LoggingConfig.LogGroup.Ref));
    expect(otherGroups.size).toBe(7);
  });

  it('wires every route function to the JWT key and database secrets, with read grants on both', () => {
    const jwtKeyArn = stack.resolve(stack.secrets.jwtSigningKey.secretArn);
    const databaseSecretArn = stack.resolve(stack.database.secret.secretArn);
    const proxyEndpoint = stack.resolve(stack.database.proxy.endpoint);
    for (const route of routes) {
      const [, fn] = functionOf(route);
      expect(fn.Properties.Environment.Variables).toMatchObject({
        SECRET_KEY_ARN: jwtKeyArn,
        DATABASE_SECRET_ARN: databaseSecretArn,
        DATABASE_PROXY_ENDPOINT: proxyEndpoint,
        FRONTEND_URL: 'https://app.example.com',
      });
      const secretReads = statementsOf(fn).filter((s) =>
        [s.Action].flat().includes('secretsmanager:GetSecretValue'),
      );
      const readable = secretReads.flatMap((s) => [s.Resource].flat());
      expect(readable).toContainEqual(jwtKeyArn);
      expect(readable).toContainEqual(databaseSecretArn);
    }
  });

  it('gives every route function the LLM settings and (but the task routes) a read grant on the API key secret, but no model', () => {
    // The providers route and job creation build the provider registry (lib/classify/providers.ts).
    const keyArn = stack.resolve(stack.llm.openaiApiKey.secretArn);
    expect(routes.map((r) => r.handler)).toEqual(
      expect.arrayContaining(['results.providers', 'jobs.create']),
    );
    for (const route of routes) {
      const [, fn] = functionOf(route);
      expect(fn.Properties.Environment.Variables).toMatchObject({
        OPENAI_API_KEY_SECRET_ARN: keyArn,
        LLM_CONCURRENCY: '4',
      });
      // The task routes only check a classify task's provider and model against the settings;
      // the key is read on a provider's first call (lib/ports/llm), which they never make.
      const readable = grantsOf(fn, 'secretsmanager:GetSecretValue').flatMap((s) => [s.Resource].flat());
      if (areaOf(route) === TASK_AREA) expect(readable, route.handler).not.toContainEqual(keyArn);
      else expect(readable, route.handler).toContainEqual(keyArn);
      expect(statementsOf(fn).flatMap((s) => [s.Action].flat())).not.toContainEqual(
        expect.stringMatching(/^bedrock:/),
      );
    }
  });

  it('gives every route function but the task routes the uploads bucket and both queues, with one shared grant set', () => {
    const bucketArn = stack.resolve(stack.storage.uploads.bucketArn);
    const queueArns = [stack.queues.ingest, stack.queues.classify].map((q) => stack.resolve(q.queueArn));
    const uploads = { 'Fn::Join': ['', [bucketArn, '/workspaces/*']] };
    for (const route of sharedRoutes) {
      const [, fn] = functionOf(route);
      expect(fn.Properties.Environment.Variables).toMatchObject({
        UPLOADS_BUCKET: stack.resolve(stack.storage.uploads.bucketName),
        INGEST_QUEUE: stack.resolve(stack.queues.ingest.queueName),
        INGEST_QUEUE_URL: stack.resolve(stack.queues.ingest.queueUrl),
        CLASSIFY_QUEUE: stack.resolve(stack.queues.classify.queueName),
        CLASSIFY_QUEUE_URL: stack.resolve(stack.queues.classify.queueUrl),
        QUEUE_MAX_RECEIVE_COUNT: '3',
        MAX_UPLOAD_BYTES: String(100 * 1024 * 1024),
      });
      // Presigned POSTs and GETs are signed with the role's credentials; deletes list then delete.
      const exportsArn = { 'Fn::Join': ['', [bucketArn, '/exports/*']] };
      for (const action of ['s3:PutObject', 's3:GetObject', 's3:DeleteObject']) {
        // Large exports are written under exports/ and downloaded; nothing deletes them but expiry.
        const expected = action === 's3:DeleteObject' ? [uploads] : [uploads, exportsArn];
        expect(
          grantsOf(fn, action).flatMap((s) => [s.Resource].flat()),
          action,
        ).toEqual(expected);
      }
      // A share link's large export is streamed there as a multipart upload, aborted on failure.
      expect(grantsOf(fn, 's3:AbortMultipartUpload').flatMap((s) => [s.Resource].flat())).toEqual([
        exportsArn,
      ]);
      expect(grantsOf(fn, 's3:ListBucket').flatMap((s) => [s.Resource].flat())).toEqual([bucketArn]);
      // Datasources are processed through ingest; jobs are created and retried through classify;
      // the events a route records (a cancelled job) nudge the dispatcher on the task queue.
      const sendable = grantsOf(fn, 'sqs:SendMessage').flatMap((s) => [s.Resource].flat());
      expect(sendable).toHaveLength(3);
      expect(sendable).toEqual(expect.arrayContaining(queueArns));
      expect(sendable).toContainEqual({
        'Fn::GetAtt': [stack.getLogicalId(stack.queues.tasks.node.defaultChild as never), 'Arn'],
      });
      // Sending only: consuming is the workers' business.
      expect(grantsOf(fn, 'sqs:ReceiveMessage')).toEqual([]);
    }
  });

  it('passes the configured upload size limit to the functions', () => {
    const { stack: small, flat: flatSmall } = buildStack({ maxUploadBytes: 5_000_000 });
    const fns = inspect(flatSmall).ofType('AWS::Lambda::Function');
    const [, health] = fns.find(([id]) =>
      id.startsWith(routeId(routes.find((r) => r.handler === 'system.health')!)),
    )!;
    expect(health.Properties.Environment.Variables.MAX_UPLOAD_BYTES).toBe('5000000');
    const worker = fns.find(
      ([id]) => id === small.getLogicalId(small.ingest.worker.node.defaultChild as never),
    )!;
    expect(worker[1].Properties.Environment.Variables.MAX_UPLOAD_BYTES).toBe('5000000');
  });

  it('lets the route functions send mail from the configured sender only, and no other function any', () => {
    // Password recovery is the one sender, but the grant is on the shared role (see api.ts).
    const [, recovery] = functionOf(routes.find((r) => r.handler === 'login.recoverPassword')!);
    const identity = (name: string) => ({
      'Fn::Join': [
        '',
        [
          'arn:',
          { Ref: 'AWS::Partition' },
          ':ses:',
          { Ref: 'AWS::Region' },
          ':',
          { Ref: 'AWS::AccountId' },
          `:identity/${name}`,
        ],
      ],
    });
    // The sender's address and its domain, whichever SES verified; CDK sorts the resources.
    expect(grantsOf(recovery, 'ses:SendEmail')).toEqual([
      {
        Action: 'ses:SendEmail',
        Effect: 'Allow',
        Resource: expect.arrayContaining([identity('noreply@example.com'), identity('example.com')]),
        Condition: { StringEquals: { 'ses:FromAddress': 'noreply@example.com' } },
      },
    ]);
    expect(grantsOf(recovery, 'ses:SendEmail')[0]!.Resource).toHaveLength(2);
    const mailPolicies = (policies: [string, Resource][]) =>
      policies
        .filter(([, p]) =>
          p.Properties.PolicyDocument.Statement.some((s: { Action: string | string[] }) =>
            [s.Action].flat().some((a) => a.startsWith('ses:')),
          ),
        )
        .map(([, p]) => p.Properties.Roles);
    expect(mailPolicies(ofType('AWS::IAM::Policy'))).toEqual([[{ Ref: roleId }]]);
    // Without a sender, no function may send mail at all.
    expect(mailPolicies(inspect(buildStack().flat).ofType('AWS::IAM::Policy'))).toEqual([]);
  });

  it('lets the functions into the database proxy, and nothing else in', () => {
    template.hasResourceProperties('AWS::EC2::SecurityGroupIngress', {
      FromPort: 5432,
      ToPort: 5432,
      GroupId: stack.resolve(stack.database.proxy.connections.securityGroups[0]!.securityGroupId),
      SourceSecurityGroupId: Match.anyValue(),
    });
    // Proxy from functions, cluster from proxy.
    expect(ofType('AWS::EC2::SecurityGroupIngress')).toHaveLength(2);
  });

  it('answers CORS as the local runtime does', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: {
        AllowOrigins: ['https://app.example.com'],
        AllowMethods: CORS_ALLOW_METHODS,
        AllowHeaders: CORS_ALLOW_HEADERS,
        ExposeHeaders: CORS_EXPOSE_HEADERS,
        MaxAge: CORS_MAX_AGE_SECONDS,
        // Bearer tokens, not cookies: no credentials mode for any origin.
        AllowCredentials: false,
      },
    });
  });

  it('allows any origin for *, still without credentials, and turns CORS off with no origins', () => {
    buildStack({ corsOrigins: ['*'] }).template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: Match.objectLike({ AllowOrigins: ['*'], AllowCredentials: false }),
    });
    buildStack().template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
      CorsConfiguration: Match.absent(),
    });
  });

  it('logs every request on the auto-deployed default stage, with throttling', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      AccessLogSettings: {
        DestinationArn: Match.anyValue(),
        Format: Match.stringLikeRegexp('\\$context\\.requestId'),
      },
      DefaultRouteSettings: { ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 },
    });
    template.hasOutput('ApiUrl', {});
    // A share link's path holds its token: the access log has the route key, never the path.
    const [, stage] = ofType('AWS::ApiGatewayV2::Stage')[0]!;
    const format = String(stage.Properties.AccessLogSettings.Format);
    expect(format).toContain('$context.routeKey');
    expect(format).not.toContain('$context.path');
  });

  it('throttles login, password recovery and reset, and registration below the stage, after their routes exist', () => {
    const [stageId, stage] = ofType('AWS::ApiGatewayV2::Stage')[0]!;
    const authKeys = ['POST /api/v1/login/access-token', 'POST /api/v1/password-recovery/{email}'];
    authKeys.push('POST /api/v1/reset-password', 'POST /api/v1/users/open');
    expect(AUTH_ROUTES.map((r) => `${r.method} ${r.path}`).sort()).toEqual(authKeys.sort());
    const limits = { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20 };
    expect(stage.Properties.RouteSettings).toEqual(Object.fromEntries(authKeys.map((key) => [key, limits])));
    // CloudFormation resolves a route setting's key against routes that already exist: the
    // stage waits for the nested stacks (areas) that create the auth routes.
    const areasWithAuthRoutes = nestedStacksOf(stack).filter((area) =>
      Object.values(Template.fromStack(area).toJSON().Resources as Record<string, Resource>).some(
        (r) => r.Type === 'AWS::ApiGatewayV2::Route' && authKeys.includes(r.Properties.RouteKey),
      ),
    );
    expect(areasWithAuthRoutes.map((a) => a.node.id).sort()).toEqual(['Login', 'Users']);
    for (const area of areasWithAuthRoutes) {
      expect(resources[stageId]!.DependsOn).toContain(stack.getLogicalId(area.nestedStackResource!));
    }
  });

  it("takes the auth routes' limits from the stack props (CDK context)", () => {
    const { template: custom } = buildStack({ authThrottleRateLimit: 2, authThrottleBurstLimit: 5 });
    const [, stage] = inspect(custom).ofType('AWS::ApiGatewayV2::Stage')[0]!;
    expect(stage.Properties.RouteSettings['POST /api/v1/login/access-token']).toEqual({
      ThrottlingRateLimit: 2,
      ThrottlingBurstLimit: 5,
    });
  });
});
