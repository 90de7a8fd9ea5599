import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Api } from '#infra/constructs/api.ts';
import { PROJECT_ROOT } from '#infra/constructs/app-function.ts';
import { Database } from '#infra/constructs/database.ts';
import { Network } from '#infra/constructs/network.ts';
import { Secrets } from '#infra/constructs/secrets.ts';
import { routeId } from '#infra/naming.ts';
import type { Route } from '#lib/http/route.ts';
import { system } from '#lib/http/routes.ts';
import { cdkJsonContext } from './stack.ts';

// Bundles for real, through the same Api construct as the stack, but only two routes: the
// health check (pg and its CommonJS requires in an ESM bundle) and the docs asset (files
// copied beside the bundle by the afterBundling hook, found through import.meta.url).
const bundled: Route[] = [system.health, system.docsAsset];

// Inside the project, so the bundle's external @aws-sdk imports resolve from node_modules as
// they resolve from the runtime in Lambda.
const cacheDir = path.join(PROJECT_ROOT, 'node_modules', '.cache');
let outdir: string;
let bundleDirs: Map<string, string>;

beforeAll(() => {
  mkdirSync(cacheDir, { recursive: true });
  outdir = mkdtempSync(path.join(cacheDir, 'docsift-bundle-test-'));
  const app = new App({ outdir, context: cdkJsonContext() });
  const stack = new Stack(app, 'BundleTest');
  const network = new Network(stack, 'Network');
  new Api(stack, 'Api', {
    routes: bundled,
    vpc: network.vpc,
    securityGroup: network.functionsSecurityGroup,
    database: new Database(stack, 'Database', { vpc: network.vpc }),
    jwtSigningKey: new Secrets(stack, 'Secrets').jwtSigningKey,
    corsOrigins: [],
    settings: {},
  });
  const functions = Template.fromStack(stack).findResources('AWS::Lambda::Function');
  bundleDirs = new Map(
    bundled.map((route) => {
      const [, fn] = Object.entries(functions).find(([id]) => id.startsWith(`Api${routeId(route)}`))!;
      const hash = (fn.Properties.Code.S3Key as string).replace(/\.zip$/, '');
      return [route.handler, path.join(outdir, `asset.${hash}`)];
    }),
  );
}, 60_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

/**
 * Imports a bundle in a fresh Node process, as Lambda's runtime does (no test runner in
 * between), and calls one export with an HTTP API v2 event.
 */
async function invoke(route: Route, rawPath: string, pathParameters: Record<string, string> = {}) {
  const bundle = pathToFileURL(path.join(bundleDirs.get(route.handler)!, 'index.mjs')).href;
  const exportName = route.handler.split('.')[1]!;
  const event = {
    version: '2.0',
    routeKey: `${route.method} ${route.path}`,
    rawPath,
    rawQueryString: '',
    headers: {},
    pathParameters,
    isBase64Encoded: false,
    requestContext: { requestId: 'bundle-test', http: { method: route.method, path: rawPath } },
  };
  const script = `
    const [bundle, exportName, event] = process.argv.slice(1);
    const handler = (await import(bundle))[exportName];
    const result = await handler(JSON.parse(event), { awsRequestId: 'bundle-test', functionName: 'bundle-test' });
    // Exit only once the (large, base64) result has left: pipe writes are asynchronous.
    process.stdout.write(JSON.stringify(result), () => process.exit(0));`;
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--input-type=module', '--enable-source-maps', '-e', script, bundle, exportName, JSON.stringify(event)],
    {
      env: {
        PATH: process.env.PATH,
        PLATFORM: 'aws',
        LOG_LEVEL: 'SILENT',
        // Nothing listens on port 9: the pool is created, every connection is refused.
        DATABASE_URL: 'postgres://docsift:unused@127.0.0.1:9/docsift',
        SECRET_KEY: 'k'.repeat(40),
      },
      timeout: 30_000,
    },
  );
  return JSON.parse(stdout) as {
    statusCode: number;
    headers: Record<string, string>;
    body: string;
    isBase64Encoded?: boolean;
  };
}

describe('ESM bundles', () => {
  it('puts Swagger UI beside the docs-asset bundle only', () => {
    expect(readdirSync(bundleDirs.get(system.docsAsset.handler)!).sort()).toEqual([
      'index.mjs',
      'index.mjs.map',
      'swagger-ui',
    ]);
    expect(readdirSync(path.join(bundleDirs.get(system.docsAsset.handler)!, 'swagger-ui')).sort()).toEqual([
      'swagger-ui-bundle.js',
      'swagger-ui.css',
    ]);
    expect(readdirSync(bundleDirs.get(system.health.handler)!)).not.toContain('swagger-ui');
  });

  it('serves a Swagger UI asset from the bundle', { timeout: 30_000 }, async () => {
    const result = await invoke(system.docsAsset, '/docs/swagger-ui.css', { asset: 'swagger-ui.css' });
    expect(result.statusCode).toBe(200);
    expect(result.headers['content-type']).toMatch(/^text\/css/);
    expect(result.isBase64Encoded).toBe(true);
    expect(Buffer.from(result.body, 'base64').toString('utf8')).toContain('.swagger-ui');
  });

  it('answers the health check with a 503 problem when the database is unreachable', {
    timeout: 30_000,
  }, async () => {
    const result = await invoke(system.health, '/api/v1/healthz');
    expect(result.statusCode).toBe(503);
    expect(result.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(result.body)).toMatchObject({ status: 503, title: 'Service Unavailable' });
  });
});
