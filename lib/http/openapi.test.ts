import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { declaredStatuses, openApiDocument, TAG_DESCRIPTIONS } from './openapi.ts';
import type { Route } from './route.ts';
import { routes } from './routes.ts';

const document = openApiDocument() as any;
const operationOf = (route: Route) => document.paths[route.path]?.[route.method.toLowerCase()];

/** The source of one handler of functions/http/<file>.ts: from its declaration to the next one. */
function handlerSource(route: Route): string {
  const [file, name] = route.handler.split('.') as [string, string];
  const source = readFileSync(new URL(`../../functions/http/${file}.ts`, import.meta.url), 'utf8');
  // `export { exportHandler as export }`: a name that is a keyword is exported under an alias.
  const local = source.match(new RegExp(`export \\{[^}]*?(\\w+) as ${name}\\b`))?.[1] ?? name;
  const start = source.search(new RegExp(`^(export )?const ${local} = `, 'm'));
  expect(start, route.handler).toBeGreaterThanOrEqual(0);
  const rest = source.slice(start + 1);
  const end = rest.search(/^(export|const|let|function|async function) /m);
  return rest.slice(0, end < 0 ? undefined : end);
}

describe('the OpenAPI document', () => {
  it('lists every API route, and not the routes that serve the docs themselves', () => {
    for (const route of routes) {
      if (route.documented === false) expect(operationOf(route), route.path).toBeUndefined();
      else expect(operationOf(route), `${route.method} ${route.path}`).toBeDefined();
    }
    expect(Object.keys(document.paths).filter((p) => !p.startsWith('/api/v1/'))).toEqual([]);
    expect(document.paths['/api/v1/openapi.json']).toBeUndefined();
  });

  it('says of each operation who may call it: public ones with `security: []`', () => {
    for (const route of routes.filter((r) => r.documented !== false)) {
      const op = operationOf(route);
      const expected =
        route.auth === 'public' ? [] : route.auth === 'optional' ? [{ bearer: [] }, {}] : [{ bearer: [] }];
      expect(op.security, route.handler).toEqual(expected);
      expect(op.description, route.handler).toContain(route.summary);
    }
  });

  it('describes every tag the routes use', () => {
    const used = new Set(routes.filter((r) => r.documented !== false).flatMap((r) => r.tags));
    for (const tag of used) expect(TAG_DESCRIPTIONS[tag], `tag "${tag}"`).toBeTruthy();
    expect(document.tags.map((t: { name: string }) => t.name).sort()).toEqual([...used].sort());
  });

  it('declares every status a handler answers with a raw response of its own', () => {
    let raw = 0;
    for (const route of routes) {
      for (const [, status] of handlerSource(route).matchAll(/new RawResponse\(\s*(\d{3})/g)) {
        raw++;
        expect(declaredStatuses(route), `${route.handler} answers ${status}`).toContain(Number(status));
      }
    }
    expect(raw).toBeGreaterThanOrEqual(5); // the scan found the handlers' raw answers at all
  });

  it('declares the file and export formats, and the redirects to a download', () => {
    const content =
      document.paths['/api/v1/workspaces/{workspace_id}/datasources/{datasource_id}/content'].get;
    expect(Object.keys(content.responses)).toEqual(expect.arrayContaining(['200', '302']));
    expect(content.responses['302'].headers.Location).toBeDefined();
    const exp = document.paths['/api/v1/workspaces/{workspace_id}/classification_jobs/{job_id}/export'].get;
    expect(Object.keys(exp.responses['200'].content)).toEqual([
      'text/csv',
      'application/x-ndjson',
      'application/json',
    ]);
    // Large: the export to poll (202, its Location); through a share link, a 303 to the file.
    expect(exp.responses['202'].headers.Location).toBeDefined();
    expect(exp.responses['202'].content['application/json'].schema.$ref).toMatch(/Export$/);
    expect(exp.responses['303']).toBeUndefined();
    const shared = document.paths['/api/v1/shared/{token}/jobs/{job_id}/export'].get;
    expect(shared.responses['303'].headers.Location).toBeDefined();
    const append =
      document.paths['/api/v1/workspaces/{workspace_id}/datasources/{datasource_id}/records'].post;
    expect(append.responses['202'].content['application/json'].schema.$ref).toMatch(/RecordAppendPending/);
  });
});

describe('npm run openapi', () => {
  it('writes the document offline, with no database or configuration', () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'docsift-openapi-')), 'openapi.json');
    execFileSync(process.execPath, ['--import', 'tsx', 'lib/http/openapi-cli.ts', file], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
      stdio: 'pipe',
    });
    const written = JSON.parse(readFileSync(file, 'utf8'));
    expect(written).toEqual(JSON.parse(JSON.stringify(document)));
  });
});
