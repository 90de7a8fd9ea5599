import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { routes } from '#lib/http/routes.ts';
import { MAX_REQUEST_BYTES } from '#lib/local/server.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { makeCsv } from '#test/support/fixtures.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

let app: TestApp;
let token: string;

beforeAll(async () => {
  app = await startTestApp();
  token = await app.api.login(SUPERUSER.email, SUPERUSER.password);
});
afterAll(() => app.stop());

function expectProblem(res: { status: number; headers: Headers; body: any; text: string }, status: number) {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(res.body).toMatchObject({ type: 'about:blank', status, title: expect.any(String) });
  expect(res.text).not.toMatch(/\bat .+\.(ts|js):\d+/);
}

describe('bad input', () => {
  it('answers malformed JSON with 400', async () => {
    const res = await app.api.post('/api/v1/workspaces', {
      token,
      body: '{"name": "unterminated',
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(res, 400);
    expect(res.body.detail).toBe('The request body is not valid JSON');
  });

  it('answers an empty JSON body with 400', async () => {
    const res = await app.api.post('/api/v1/workspaces', {
      token,
      body: '',
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(res, 400);
  });

  it('answers a body of the wrong media type with 415', async () => {
    const res = await app.api.post('/api/v1/workspaces', {
      token,
      body: 'name=x',
      headers: { 'content-type': 'text/plain' },
    });
    expectProblem(res, 415);
    // The login form is one of the few routes that takes form encoding.
    const form = await app.api.post('/api/v1/workspaces', { token, form: { name: 'x' } });
    expectProblem(form, 415);
  });

  it('answers wrong types with 422 listing every failing field', async () => {
    const res = await app.api.patch('/api/v1/users/me', { token, json: { email: 12, full_name: ['x'] } });
    expectProblem(res, 422);
    expect(res.body.errors).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ location: 'body', path: 'email' }),
        expect.objectContaining({ location: 'body', path: 'full_name' }),
      ]),
    );
  });

  it('answers a query parameter the route does not take with 422 naming it, on every route', async () => {
    // A filter ignored would answer everything unfiltered: a results query with the reference
    // system's datarecord_ids once returned every result of the workspace.
    const ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Query check' } })).body;
    const res = await app.api.get(`/api/v1/workspaces/${ws.id}/classification_results?limt=5&jobid=x`, {
      token,
    });
    expectProblem(res, 422);
    expect(res.body.errors.map((e: { path: string }) => e.path).sort()).toEqual(['jobid', 'limt']);
    expect(res.body.errors[0]).toMatchObject({
      location: 'query',
      message: expect.stringContaining('job_id'),
    });
    // A route without query parameters takes none.
    const me = await app.api.get('/api/v1/users/me?verbose=1', { token });
    expectProblem(me, 422);
    expect(me.body.errors).toEqual([
      { location: 'query', path: 'verbose', message: 'Unknown query parameter (this operation takes none)' },
    ]);
    // Known parameters still pass.
    expect((await app.api.get('/api/v1/workspaces?limit=1', { token })).status).toBe(200);
  });

  it('answers a JSON array or scalar where an object belongs with 422', async () => {
    for (const json of [[1, 2], 'text', null]) {
      const res = await app.api.post('/api/v1/workspaces', { token, json });
      expectProblem(res, 422);
    }
  });

  it('refuses prototype-polluting keys with 400', async () => {
    const res = await app.api.post('/api/v1/workspaces', {
      token,
      body: '{"name":"ok","__proto__":{"polluted":true}}',
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(res, 400);
    expect(res.body.detail).toMatch(/forbidden key/);
  });

  it('answers an oversized body with 413', async () => {
    const res = await app.api.post('/api/v1/workspaces', {
      token,
      body: JSON.stringify({ name: 'x'.repeat(MAX_REQUEST_BYTES) }),
      headers: { 'content-type': 'application/json' },
    });
    expectProblem(res, 413);
  });

  it('answers unknown paths with 404 and known paths with a wrong method with 405', async () => {
    expectProblem(await app.api.get('/api/v1/nothing-here'), 404);
    const res = await app.api.request('PUT', '/api/v1/users/me', { token });
    expectProblem(res, 405);
    expect(res.headers.get('allow')).toContain('GET');
  });
});

describe('text Postgres cannot store', () => {
  it('refuses NUL in a JSON field with 422 naming the field', async () => {
    const res = await app.api.post('/api/v1/workspaces', { token, json: { name: 'a\u0000b' } });
    expectProblem(res, 422);
    expect(res.body.errors).toEqual([
      { location: 'body', path: 'name', message: expect.stringMatching(/NUL/) },
    ]);
  });

  it('refuses a lone surrogate deep in a body, and in an object key', async () => {
    const ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Texts' } })).body.id;
    const res = await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token,
      json: { name: 'T', type: 'text_block', options: { text: 'half \ud800 a pair' } },
    });
    expectProblem(res, 422);
    expect(res.body.errors).toEqual([
      { location: 'body', path: 'options.text', message: expect.stringMatching(/lone surrogate/) },
    ]);
    const key = await app.api.post('/api/v1/workspaces', { token, json: { name: 'x', '\udc00': 1 } });
    expectProblem(key, 422);
  });

  it('refuses NUL in a query parameter, a path parameter and the login form', async () => {
    const ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Search' } })).body.id;
    const search = await app.api.get(`/api/v1/workspaces/${ws}/datarecords?q=a%00b`, { token });
    expectProblem(search, 422);
    expect(search.body.errors[0]).toMatchObject({ location: 'query', path: 'q' });

    const recovery = await app.api.post('/api/v1/password-recovery/a%00b@example.com');
    expectProblem(recovery, 422);
    expect(recovery.body.errors[0]).toMatchObject({ location: 'path', path: 'email' });

    const login = await app.api.post('/api/v1/login/access-token', {
      form: { username: `${SUPERUSER.email}\u0000`, password: 'x' },
    });
    expectProblem(login, 422);
    expect(login.body.errors[0]).toMatchObject({ location: 'body', path: 'username' });
  });

  it('answers a malformed percent-escape in the path with 400 and a request id, as API Gateway does', async () => {
    for (const path of ['/api/v1/workspaces/%zz', '/api/v1/workspaces/%E0%A4%A', '/api/v1/users/%ED%A0%80']) {
      const res = await app.api.get(path, { token });
      expectProblem(res, 400);
      expect(res.body.detail).toMatch(/malformed percent-encoding/);
      expect(res.body.request_id).toBe(res.headers.get('x-request-id'));
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  it('answers multipart without a boundary with 400 saying so', async () => {
    const ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Multipart' } })).body.id;
    const res = await app.api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token,
      body: '--x\r\ncontent-disposition: form-data; name="name"\r\n\r\nN\r\n--x--\r\n',
      headers: { 'content-type': 'multipart/form-data; charset=utf-8' },
    });
    expectProblem(res, 400);
    expect(res.body.detail).toMatch(/boundary/);
  });

  it('previews a CSV with a row over 1 MB as a 422 with the reason', async () => {
    const ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Rows' } })).body.id;
    const csv = makeCsv([
      ['title', 'body'],
      ['short', 'fine'],
      ['long', 'y'.repeat(1_100_000)],
    ]);
    const form = new FormData();
    form.append('name', 'Long rows');
    form.append('type', 'csv');
    form.append('files', new Blob([csv]), 'long.csv');
    const created = await fetch(`${app.url}/api/v1/workspaces/${ws}/datasources`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
    });
    expect(created.status).toBe(201);
    const id = ((await created.json()) as { data: { id: string }[] }).data[0]!.id;
    await waitForDatasource(app.api, token, ws, id);
    const res = await app.api.get(`/api/v1/workspaces/${ws}/datasources/${id}/rows`, { token });
    expectProblem(res, 422);
    expect(res.body.errors[0].message).toMatch(/over 1 MB/);
  });
});

describe('response headers', () => {
  it('sets security headers and a request id on success and on errors', async () => {
    for (const res of [
      await app.api.get('/api/v1/users/me', { token }),
      await app.api.get('/api/v1/users/me'),
    ]) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=/);
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.headers.get('x-powered-by')).toBeNull();
    }
    const problem = await app.api.get('/api/v1/users/me');
    expect(problem.body.request_id).toBe(problem.headers.get('x-request-id'));
  });

  it('marks API answers no-store, and lets docs assets be cached', async () => {
    for (const res of [
      await app.api.get('/api/v1/users/me', { token }),
      await app.api.get('/api/v1/users/me'),
      await app.api.get('/api/v1/openapi.json'),
    ]) {
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
    expect((await app.api.get('/docs/swagger-ui.css')).headers.get('cache-control')).toMatch(/max-age/);
  });

  it("gives the local runtime's own 404, 405 and 413 the headers and request id of a handler's answer", async () => {
    const answers = [
      await app.api.get('/api/v1/nothing-here'),
      await app.api.request('PUT', '/api/v1/users/me', { token }),
      await app.api.post('/api/v1/workspaces', {
        token,
        body: 'x'.repeat(MAX_REQUEST_BYTES + 1),
        headers: { 'content-type': 'application/json' },
      }),
    ];
    expect(answers.map((r) => r.status)).toEqual([404, 405, 413]);
    for (const res of answers) {
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      expect(res.body.request_id).toBe(res.headers.get('x-request-id'));
    }
  });

  it('answers CORS preflights for allowed origins only, as API Gateway does', async () => {
    const preflight = (origin: string) =>
      app.api.request('OPTIONS', '/api/v1/workspaces', {
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization',
        },
      });
    const allowed = await preflight('http://app.example.com');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('http://app.example.com');
    expect(allowed.headers.get('access-control-allow-methods')).toContain('POST');
    expect(allowed.headers.get('access-control-allow-headers')).toContain('authorization');

    const denied = await preflight('http://evil.example.com');
    expect(denied.headers.get('access-control-allow-origin')).toBeNull();

    const simple = await app.api.get('/api/v1/healthz', { headers: { origin: 'http://app.example.com' } });
    expect(simple.headers.get('access-control-allow-origin')).toBe('http://app.example.com');
    // Bearer tokens, not cookies: browsers need no credentials mode, so none is offered.
    for (const res of [allowed, simple])
      expect(res.headers.get('access-control-allow-credentials')).toBeNull();
  });
});

describe('docs and health', () => {
  it('reports health with the database checked', async () => {
    const res = await app.api.get('/api/v1/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok', database: 'ok' });
  });

  it('publishes an OpenAPI 3.1 document with every route of the table and its schemas', async () => {
    const res = await app.api.get('/api/v1/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.1.0');
    const operations = routes.filter((r) => r.documented !== false);
    for (const route of operations) {
      const op = res.body.paths[route.path]?.[route.method.toLowerCase()];
      expect(op, `${route.method} ${route.path}`).toBeDefined();
      expect(op.responses[String(route.response.status)]).toBeDefined();
      if (route.body) expect(op.requestBody.content['application/json'].schema).toBeDefined();
      expect(op.security).toEqual(
        route.auth === 'public' ? [] : route.auth === 'optional' ? [{ bearer: [] }, {}] : [{ bearer: [] }],
      );
    }
    const count = Object.values(res.body.paths).reduce(
      (n: number, p) => n + Object.keys(p as object).length,
      0,
    );
    expect(count).toBe(operations.length);
    const login = res.body.paths['/api/v1/login/access-token'].post;
    expect(Object.keys(login.requestBody.content)).toContain('application/x-www-form-urlencoded');
    expect(res.body.components.schemas.UserPublic.properties).not.toHaveProperty('hashed_password');
  });

  it('serves Swagger UI from the installed package, without any outside URL', async () => {
    const page = await app.api.get('/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.text).not.toMatch(/https?:\/\//);
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    for (const asset of ['swagger-ui.css', 'swagger-ui-bundle.js', 'init.js']) {
      const res = await app.api.get(`/docs/${asset}`);
      expect(res.status, asset).toBe(200);
      expect(res.text.length).toBeGreaterThan(asset === 'init.js' ? 10 : 10_000);
    }
    expectProblem(await app.api.get('/docs/..%2Fpackage.json'), 404);
    // Links like /docs#/datasources/datasources_create open that operation.
    expect((await app.api.get('/docs/init.js')).text).toMatch(/"deepLinking":true/);
  });
});
