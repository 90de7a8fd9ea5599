import { Duration, NestedStack, Stack, Validations } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { NodejsFunction } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { variantsOf } from '#lib/http/compat.ts';
import { DOCS_ASSETS } from '#lib/http/docs.ts';
import type { Route } from '#lib/http/route.ts';
import { login, system, users } from '#lib/http/routes.ts';
import {
  CORS_ALLOW_HEADERS,
  CORS_ALLOW_METHODS,
  CORS_EXPOSE_HEADERS,
  CORS_MAX_AGE_SECONDS,
} from '#lib/local/cors.ts';
import { routeEntry, routeId } from '../naming.ts';
import { appFunction, executionRole } from './app-function.ts';
import type { Database } from './database.ts';
import type { Llm } from './llm.ts';
import type { Queues } from './queues.ts';
import type { Storage } from './storage.ts';

/** One JSON line per request, with what an operator needs to trace it to the function's logs. */
const ACCESS_LOG_FORMAT = apigw.AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    ip: '$context.identity.sourceIp',
    requestTime: '$context.requestTime',
    method: '$context.httpMethod',
    // No `$context.path`: a share link's path holds its token (a bearer capability). The
    // function's own request line has the path, token redacted, under the same request id.
    routeKey: '$context.routeKey',
    status: '$context.status',
    protocol: '$context.protocol',
    responseLength: '$context.responseLength',
    latencyMs: '$context.responseLatency',
    integrationLatencyMs: '$context.integrationLatency',
    integrationError: '$context.integrationErrorMessage',
    userAgent: '$context.identity.userAgent',
  }),
);

/**
 * Application settings passed to every HTTP function as environment variables. Unset ones
 * are left out, so lib/config.ts stays the one place that knows their defaults.
 */
export interface ApiSettings {
  frontendUrl?: string;
  usersOpenRegistration?: boolean;
  accessTokenExpireMinutes?: number;
  logLevel?: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR' | 'SILENT';
  /** SES sender; without it password-recovery mail cannot be sent. */
  emailsFrom?: string;
}

export interface ApiProps {
  routes: Route[];
  vpc: ec2.IVpc;
  securityGroup: ec2.ISecurityGroup;
  database: Database;
  jwtSigningKey: secretsmanager.ISecret;
  /** The uploads bucket: the route functions may presign uploads and downloads and delete objects. */
  storage: Storage;
  /** The queues: the route functions may send to the ingest and classify queues. */
  queues: Queues;
  /**
   * The LLM configuration: every route gets it and the route functions may read the API key's
   * secret, since the providers route and job creation build the provider registry
   * (lib/classify/providers.ts).
   */
  llm: Llm;
  /** Browser origins allowed by CORS; empty turns CORS off. `*` allows any origin. Never with credentials. */
  corsOrigins: string[];
  settings: ApiSettings;
  /** Stage-wide request rate limit. Default {@link DEFAULT_API_THROTTLE}. */
  throttle?: apigwv2.ThrottleSettings;
  /** Rate limit of each of {@link AUTH_ROUTES}. Default {@link DEFAULT_AUTH_THROTTLE}. */
  authThrottle?: apigwv2.ThrottleSettings;
  /**
   * What the recurring-task routes (the `tasks` area) need beyond the database, the JWT key and
   * the LLM settings: their own role gets these grants, their functions this environment.
   */
  taskAccess: TaskRouteAccess;
}

/**
 * The routes a password guesser or a mail bomber calls: login, password recovery and reset,
 * open registration. Each gets a lower rate limit than the stage's. API Gateway counts a
 * route's requests from every client together, so this caps the cost of a flood; the limits
 * per email and per client address are the app's (lib/auth/throttle.ts, in Postgres).
 */
export const AUTH_ROUTES: Route[] = [
  login.accessToken,
  login.recoverPassword,
  login.resetPassword,
  users.register,
];

/** Requests per second (and burst) on the whole stage, unless set from context. */
export const DEFAULT_API_THROTTLE = { rateLimit: 100, burstLimit: 200 } as const;

/** Requests per second (and burst) on each auth route: far above what people type, far below a flood. */
export const DEFAULT_AUTH_THROTTLE = { rateLimit: 10, burstLimit: 20 } as const;

/** The recurring-task routes' access to Scheduler and the task queue (infra/constructs/scheduler.ts). */
export interface TaskRouteAccess {
  /** TASK_QUEUE_ARN, TASK_SCHEDULE_GROUP, TASK_SCHEDULER_ROLE_ARN, … */
  environment(): Record<string, string>;
  /** Manage the group's schedules, pass the Scheduler role to them, send to the task queue. */
  grantManageSchedules(role: iam.IRole): void;
}

/** The area of a route: its handler file under functions/http (`users.readMe` → `users`). */
export function areaOf(route: Pick<Route, 'handler'>): string {
  return route.handler.split('.')[0]!;
}

/** The recurring-task routes' area: the one area whose functions get a role of their own. */
export const TASK_AREA = 'tasks';

/** How long the route functions' logs are kept: as each function's own log group kept them. */
const FUNCTION_LOG_RETENTION = logs.RetentionDays.ONE_MONTH;

/**
 * The HTTP API: one Lambda function per route of the route table, behind an API Gateway HTTP
 * API whose default stage keeps access logs and whose CORS matches the local runtime's.
 *
 * The route functions share one execution role and one log group. A stack holds at most 500
 * resources, and a role, its policy and a log group per function made each route cost seven;
 * shared, a route costs its function, its invoke permission, its integration and its route
 * (test/infra/size.test.ts keeps count). Nothing is lost by sharing:
 * - The role: every route function had the same grants already, password recovery's mail
 *   grant aside, which the others now share (see grantRouteAccess for why that is acceptable).
 * - The log group: Lambda names each stream of a shared group
 *   `YYYY/MM/DD/<function name>[<version>]<environment id>`, so every line, the runtime's
 *   START/REPORT lines included, stays attributable through `@logStream`; the app's own lines
 *   also carry `function_name` and `request_id` (lib/http/handler.ts). One group also means one
 *   Logs Insights source for a request that crosses routes.
 * One exception: the recurring-task routes run under a role of their own (taskFunctionRole),
 * since they alone may manage schedules and pass the Scheduler role; the other routes never get
 * those grants.
 *
 * Each area's routes live in a nested stack of their own (`areas`): its functions, their invoke
 * permissions, integrations and routes. The HTTP API, its stage, the roles and the log group
 * stay in the parent stack and reach the nested ones as CloudFormation parameters. Every stack
 * then stays far from the 500-resource limit as areas grow (test/infra/size.test.ts).
 */
export class Api extends Construct {
  readonly httpApi: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  /** The function of each route, by route id (see routeId). */
  readonly functions = new Map<string, NodejsFunction>();
  /** The execution role of every route function. */
  readonly functionRole: iam.Role;
  /** The execution role of the recurring-task route functions (TASK_AREA). */
  readonly taskFunctionRole: iam.Role;
  /** The log group of every route function. */
  readonly functionLogs: logs.LogGroup;
  /** The nested stack of each area's routes, by area (see areaOf). */
  readonly areas = new Map<string, NestedStack>();

  constructor(scope: Construct, id: string, props: ApiProps) {
    super(scope, id);
    this.httpApi = new apigwv2.HttpApi(this, 'HttpApi', {
      apiName: 'docsift',
      description: 'docsift HTTP API',
      corsPreflight: corsPreflight(props.corsOrigins),
      // Created below instead, with access logs and throttling.
      createDefaultStage: false,
    });
    this.stage = this.httpApi.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: props.throttle ?? DEFAULT_API_THROTTLE,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(
          new logs.LogGroup(this, 'AccessLogs', { retention: logs.RetentionDays.THREE_MONTHS }),
        ),
        format: ACCESS_LOG_FORMAT,
      },
    });

    this.functionRole = executionRole(this, 'FunctionRole', 'docsift HTTP API route functions');
    this.grantRouteAccess(props);
    this.taskFunctionRole = executionRole(
      this,
      'TaskFunctionRole',
      'docsift HTTP API recurring-task route functions',
    );
    this.grantTaskRouteAccess(props);
    this.functionLogs = new logs.LogGroup(this, 'FunctionLogs', { retention: FUNCTION_LOG_RETENTION });

    const environment = this.environment(props);
    const taskEnvironment = { ...environment, ...props.taskAccess.environment() };
    const authRoutes: { key: string; routes: apigwv2.HttpRoute[] }[] = [];
    for (const route of props.routes) {
      const area = this.area(areaOf(route));
      const isTask = areaOf(route) === TASK_AREA;
      const fn = this.routeFunction(area, route, props, isTask ? taskEnvironment : environment);
      // In the area's stack, with its integration and invoke permission (the HttpApi's own
      // addRoutes would put them in the API's stack).
      const [own, ...profile] = variantsOf(route);
      // One integration for every path of the route; with profile paths (the reference client's,
      // lib/http/compat.ts), API Gateway may invoke the function from any route of the API.
      const integration = new HttpLambdaIntegration(`${routeId(route)}Integration`, fn, {
        scopePermissionToRoute: profile.length === 0,
      });
      const added = new apigwv2.HttpRoute(area, `${routeId(route)}Route`, {
        httpApi: this.httpApi,
        routeKey: apigwv2.HttpRouteKey.with(own!.path, apigwv2.HttpMethod[own!.method]),
        integration,
      });
      profile.forEach((variant, i) => {
        new apigwv2.HttpRoute(area, `${routeId(route)}Compat${i}Route`, {
          httpApi: this.httpApi,
          routeKey: apigwv2.HttpRouteKey.with(variant.path, apigwv2.HttpMethod[variant.method]),
          integration,
        });
      });
      if (AUTH_ROUTES.includes(route))
        authRoutes.push({ key: `${route.method} ${route.path}`, routes: [added] });
    }
    this.throttleAuthRoutes(authRoutes, props.authThrottle ?? DEFAULT_AUTH_THROTTLE);

    // On the whole construct: the routes live in the areas' nested stacks, not under the API.
    Validations.of(this).acknowledge({
      id: 'AwsSolutions-APIG4',
      reason:
        "Authorization is each route's declared auth level, enforced in the function (lib/http/middleware/authenticate.ts verifies the JWT and the user's state from the database); public routes (login, registration, health, docs) are public by design.",
    });
  }

  /** Per-route throttling on the stage (the L2 stage has no property for it). */
  private throttleAuthRoutes(
    authRoutes: { key: string; routes: apigwv2.HttpRoute[] }[],
    throttle: apigwv2.ThrottleSettings,
  ): void {
    if (authRoutes.length === 0) return;
    const stage = this.stage.node.defaultChild as apigwv2.CfnStage;
    stage.routeSettings = Object.fromEntries(
      authRoutes.map(({ key }) => [
        key,
        { ThrottlingRateLimit: throttle.rateLimit, ThrottlingBurstLimit: throttle.burstLimit },
      ]),
    );
    // The stage names the routes by key, and CloudFormation refuses a key it has not created yet.
    for (const { routes } of authRoutes) for (const route of routes) this.stage.node.addDependency(route);
  }

  private environment(props: ApiProps): Record<string, string> {
    const { settings } = props;
    const optional = {
      ACCESS_TOKEN_EXPIRE_MINUTES: settings.accessTokenExpireMinutes,
      USERS_OPEN_REGISTRATION: settings.usersOpenRegistration,
      FRONTEND_URL: settings.frontendUrl,
      LOG_LEVEL: settings.logLevel,
      EMAILS_FROM: settings.emailsFrom,
    };
    return {
      PLATFORM: 'aws',
      ...props.database.connectionEnvironment(),
      SECRET_KEY_ARN: props.jwtSigningKey.secretArn,
      ...props.storage.environment(),
      ...props.queues.environment(),
      ...props.llm.environment(),
      ...Object.fromEntries(
        Object.entries(optional)
          .filter(([, value]) => value !== undefined)
          .map(([name, value]) => [name, String(value)]),
      ),
      // BACKEND_CORS_ORIGINS is left out: API Gateway answers CORS, the functions never see it.
    };
  }

  /** The nested stack of an area's routes, created with its first route: `users` → `Users`. */
  private area(name: string): NestedStack {
    let area = this.areas.get(name);
    if (!area) {
      area = new NestedStack(this, name[0]!.toUpperCase() + name.slice(1), {
        description: `docsift HTTP API: the ${name} routes`,
      });
      this.areas.set(name, area);
    }
    return area;
  }

  private routeFunction(
    scope: Construct,
    route: Route,
    props: ApiProps,
    environment: Record<string, string>,
  ): NodejsFunction {
    const id = routeId(route);
    const { file, exportName } = routeEntry(route);
    const fn = appFunction(scope, id, {
      entry: file,
      handler: exportName,
      description: `docsift ${route.method} ${route.path}`,
      vpc: props.vpc,
      securityGroup: props.securityGroup,
      environment,
      role: areaOf(route) === TASK_AREA ? this.taskFunctionRole : this.functionRole,
      logGroup: this.functionLogs,
      afterBundling: route.handler === system.docsAsset.handler ? copySwaggerUi : undefined,
    });
    this.functions.set(id, fn);
    return fn;
  }

  /**
   * The route functions' grants, given once to their shared role.
   *
   * One grant set for every route, not per route: the route table does not say which routes
   * touch uploads, the queues or the LLM providers, and a per-route list kept here would drift
   * from it. Each grant is still scoped to what the app uses: reading the database credentials
   * and connecting to the proxy, reading the JWT key, the uploads prefix of one bucket, sending
   * (not consuming) to two queues (datasources are processed through ingest; jobs are created
   * and retried through classify), reading the one LLM key secret (no route invokes a model),
   * and mail from the one configured sender.
   */
  private grantRouteAccess(props: ApiProps): void {
    const role = this.functionRole;
    // The secret's read grant on the role, and the functions' security group into the proxy.
    props.database.grantConnect({
      grantPrincipal: role,
      connections: new ec2.Connections({ securityGroups: [props.securityGroup] }),
    });
    props.jwtSigningKey.grantRead(role);
    props.storage.grantApiAccess(role);
    props.queues.ingest.grantSendMessages(role);
    props.queues.classify.grantSendMessages(role);
    props.llm.grantRead(role);
    // Only password recovery sends mail, yet the grant is the shared role's. A role of its own
    // (two more resources) would keep SES from the other routes, but every route already reads
    // the JWT signing key and the database credentials, which give far more than mail would;
    // what the grant must guarantee is that no route sends as anyone but the configured
    // sender, from its verified identity, and the condition sees to that.
    if (props.settings.emailsFrom) {
      role.addToPrincipalPolicy(sendMailPolicy(this, props.settings.emailsFrom));
    }
  }

  /**
   * The recurring-task routes' grants: the database and the JWT key like every route, managing
   * the schedules of the stack's group and passing the Scheduler role to them, and sending to
   * the task queue (run now). No bucket, no mail, no other queue, no LLM key (a classify task's
   * provider and model are checked against the settings; the key is read on a provider's first
   * call, lib/ports/llm, which these routes never make): none of the task routes uses them.
   */
  private grantTaskRouteAccess(props: ApiProps): void {
    const role = this.taskFunctionRole;
    props.database.grantConnect({
      grantPrincipal: role,
      connections: new ec2.Connections({ securityGroups: [props.securityGroup] }),
    });
    props.jwtSigningKey.grantRead(role);
    props.taskAccess.grantManageSchedules(role);
  }
}

/** The HTTP API's CORS, from the same constants as the local runtime's (lib/local/cors.ts). */
function corsPreflight(origins: string[]): apigwv2.CorsPreflightOptions | undefined {
  if (origins.length === 0) return undefined;
  return {
    allowOrigins: origins,
    allowMethods: CORS_ALLOW_METHODS.map((m) => {
      const method = apigwv2.CorsHttpMethod[m as keyof typeof apigwv2.CorsHttpMethod];
      if (!method) throw new Error(`Unsupported CORS method ${m}`);
      return method;
    }),
    allowHeaders: CORS_ALLOW_HEADERS,
    exposeHeaders: CORS_EXPOSE_HEADERS,
    maxAge: Duration.seconds(CORS_MAX_AGE_SECONDS),
    // As locally: never credentials. Clients send bearer tokens, not cookies, so a browser
    // needs no credentials mode, and offering it would only widen what a listed origin may do.
    allowCredentials: false,
  };
}

/** Copies Swagger UI's files beside the docs-asset bundle, where lib/http/docs.ts looks for them. */
function copySwaggerUi(inputDir: string, outputDir: string): string[] {
  return [
    `mkdir -p "${outputDir}/swagger-ui"`,
    ...Object.keys(DOCS_ASSETS).map(
      (file) => `cp "${inputDir}/node_modules/swagger-ui-dist/${file}" "${outputDir}/swagger-ui/${file}"`,
    ),
  ];
}

/** SES SendEmail from the sender's address, whether SES verified the address or its domain. */
function sendMailPolicy(scope: Construct, emailsFrom: string): iam.PolicyStatement {
  const stack = Stack.of(scope);
  const identities = [emailsFrom, emailsFrom.split('@')[1]!];
  return new iam.PolicyStatement({
    actions: ['ses:SendEmail'],
    resources: identities.map((identity) =>
      stack.formatArn({ service: 'ses', resource: 'identity', resourceName: identity }),
    ),
    conditions: { StringEquals: { 'ses:FromAddress': emailsFrom } },
  });
}
