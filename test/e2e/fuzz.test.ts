import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Route } from '#lib/http/route.ts';
import { routes } from '#lib/http/routes.ts';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { makeCsv } from '#test/support/fixtures.ts';
import { waitForDatasource } from '#test/support/ingest.ts';

/**
 * Walks the route table and sends hostile values into every field of every route's path, query
 * and body, as a signed-in user with real resources in the path. Every answer must be a 2xx or
 * a 4xx problem: a 500 means bad input reached somewhere it could break (Postgres, a parser).
 */

let app: TestApp;
let fake: FakeLlm;
let admin: string;
const ids: Record<string, string> = {};
let victimEmail: string;

/** Values that broke something once, or could: NUL, lone surrogates, size, wrong shapes. */
const HOSTILE_VALUES: unknown[] = [
  'nul\u0000inside',
  'lone \ud800 high',
  'lone \udfff low',
  '%zz%',
  'x'.repeat(70_000),
  12345,
  true,
  null,
  ['a', '\u0000'],
  { nested: [{ deeper: { junk: ['\ud800', null, 1] } }] },
];
/** For fields that are not text (numbers, flags, ids in arrays): wrong types only. */
const WRONG_TYPES: unknown[] = ['\u0000', { a: 1 }, [[]]];

/** Path segments: broken escapes, an encoded NUL, an encoded lone surrogate (invalid UTF-8). */
const HOSTILE_SEGMENTS = [
  '%',
  '%zz',
  '%E0%A4%A',
  '%00',
  'a%00b',
  '%ED%A0%80',
  '%C0%AF',
  '..%2F..%2Fetc',
  'x'.repeat(3000),
  '12345',
];

/** Query values, raw (already encoded, or deliberately broken). */
const HOSTILE_QUERY_VALUES = ['%00', 'a%00b', '%', '%zz', '%ED%A0%80', 'x'.repeat(5_000), '-1', '1e999', ''];

const topics = {
  name: 'Topics',
  description: 'Policy areas',
  model_instructions: 'Be brief',
  fields: [
    {
      name: 'topics',
      description: 'Policy areas the text is about',
      type: 'List[str]',
      is_set_of_labels: true,
      labels: ['Economy', 'Health'],
      max_selections: 2,
      request_justification: true,
    },
  ],
};

function classifyTask() {
  return {
    name: 'Nightly',
    description: 'd',
    type: 'classify',
    schedule: '0 3 * * *',
    timezone: 'Europe/Berlin',
    status: 'active',
    configuration: {
      datasource_ids: [ids.text],
      scheme_ids: [ids.scheme],
      provider: 'openai',
      model: 'fake-model',
      process_only_new: true,
      job_name_template: 'Auto: {task_name}',
    },
  };
}

/** A valid body per route (by handler) whose every leaf the fuzzer replaces in turn. */
function exampleBody(route: Route): unknown {
  const examples: Record<string, unknown> = {
    'login.accessToken': {
      username: SUPERUSER.email,
      password: 'wrong-password',
      grant_type: 'password',
      scope: '',
    },
    'login.resetPassword': { token: 'not-a-token', new_password: 'a-new-password-1' },
    'users.updateMe': { email: 'fuzz-me@example.com', full_name: 'Fuzz' },
    'users.updatePasswordMe': { current_password: 'wrong-password', new_password: 'a-new-password-1' },
    'users.register': { email: 'someone@example.com', password: 'a-password-1', full_name: 'Someone' },
    'users.create': {
      email: 'created@example.com',
      password: 'a-password-1',
      full_name: 'Created',
      is_active: true,
      is_superuser: false,
    },
    'users.update': {
      email: 'victim-renamed@example.com',
      password: 'a-password-1',
      full_name: 'V',
      is_active: true,
    },
    'workspaces.create': { name: 'Fuzzed', description: 'd', icon: 'i' },
    'workspaces.update': { name: 'Fuzzed', description: 'd', icon: 'i' },
    'datasources.create': { name: 'Text', type: 'text_block', options: { text: 'Some text' } },
    'datasources.update': { name: 'Renamed' },
    'datasources.appendRecord': { content: 'Appended text', content_type: 'text' },
    'schemes.create': topics,
    'schemes.update': topics,
    'jobs.create': {
      name: 'Job',
      description: 'd',
      scheme_ids: [ids.scheme],
      datasource_ids: [ids.text],
      provider: 'openai',
      model: 'fake-model',
      options: { temperature: 0 },
      dry_run: false,
    },
    'jobs.update': { name: 'Renamed', description: 'd', status: 'cancelled', error_message: null },
    'datasets.create': {
      name: 'Curated',
      description: 'd',
      custom_metadata: { k: 'v' },
      record_ids: [ids.record],
      scheme_ids: [ids.scheme],
      job_ids: [ids.job],
    },
    'datasets.update': {
      name: 'Renamed',
      description: 'd',
      custom_metadata: { k: 'v' },
      scheme_ids: [ids.scheme],
    },
    'datasets.addMembers': {
      results_filter: {
        job_id: ids.job,
        scheme_id: ids.scheme,
        field: 'topics',
        label: 'Economy',
        min: 1,
        max: 2,
      },
    },
    'datasets.removeMembers': { record_ids: [ids.record] },
    'tasks.create': classifyTask(),
    'shares.create': {
      resource_type: 'datasource',
      resource_id: ids.text,
      name: 'Shared',
      description: 'd',
      permission_level: 'read_only',
      requires_login: false,
      expires_at: '2099-01-01T00:00:00Z',
      max_uses: 1000,
    },
    'shares.update': {
      name: 'Shared',
      description: 'd',
      permission_level: 'import',
      requires_login: false,
      expires_at: '2099-01-01T00:00:00Z',
      max_uses: 100000,
    },
    'bundles.createExport': { type: 'scheme', resource_id: ids.scheme, include_files: false },
    // A reference scheme export, sent inline: every leaf fuzzed reaches the import worker or a 4xx.
    'bundles.createImport': {
      document: {
        meta: { export_type: 'scheme' },
        scheme: { name: 'S', fields: [{ name: 'n', type: 'int' }] },
      },
    },
    'webhooks.create': {
      url: 'https://hooks.example.com/docsift',
      event_types: ['job.completed', 'datasource.failed'],
      enabled: true,
    },
    'webhooks.update': {
      url: 'https://hooks.example.com/other',
      event_types: ['job.failed'],
      enabled: false,
    },
    'tasks.update': {
      name: 'Renamed',
      description: 'd',
      schedule: '0 4 * * *',
      timezone: 'UTC',
      status: 'paused',
    },
  };
  if (!(route.handler in examples)) throw new Error(`No example body for ${route.handler}: add one`);
  return examples[route.handler];
}

/** Every leaf of a JSON value, as a path of keys and indexes. */
function leaves(value: unknown, path: (string | number)[] = []): (string | number)[][] {
  if (Array.isArray(value))
    return value.length === 0 ? [path] : value.flatMap((v, i) => leaves(v, [...path, i]));
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value);
    return entries.length === 0 ? [path] : entries.flatMap(([k, v]) => leaves(v, [...path, k]));
  }
  return [path];
}

function replaced(value: unknown, path: (string | number)[], by: unknown): unknown {
  if (path.length === 0) return by;
  const [head, ...rest] = path as [string | number, ...(string | number)[]];
  const copy = (Array.isArray(value) ? [...value] : { ...(value as object) }) as Record<
    string | number,
    unknown
  >;
  copy[head] = replaced(copy[head], rest, by);
  return copy;
}

/** The real resource a path parameter names, for the given route. */
function pathValue(route: Route, name: string): string {
  if (name === 'datasource_id') return route.handler === 'datasources.rows' ? ids.csv! : ids.text!;
  if (name === 'email') return victimEmail;
  if (name === 'asset') return 'swagger-ui.css';
  // A workspace link covers every resource below, so each shared view reaches a real one.
  if (name === 'token') return ids.shareToken!;
  const key = {
    workspace_id: 'ws',
    record_id: 'record',
    scheme_id: 'scheme',
    job_id: 'job',
    result_id: 'result',
    user_id: 'victim',
    task_id: 'task',
    share_id: 'share',
    dataset_id: 'dataset',
    export_id: 'export',
    import_id: 'import',
    webhook_id: 'webhook',
  }[name];
  if (!key || !ids[key]) throw new Error(`No resource for path parameter ${name}`);
  return ids[key]!;
}

function pathOf(route: Route, override: Record<string, string> = {}): string {
  return route.path.replace(
    /\{(\w+)\}/g,
    (_, name: string) => override[name] ?? encodeURIComponent(pathValue(route, name)),
  );
}

type Sent = { route: string; what: string; status: number; problem: boolean; body: string };

async function send(
  route: Route,
  what: string,
  init: { path?: string; query?: string; body?: string; contentType?: string },
): Promise<Sent> {
  const headers: Record<string, string> = { authorization: `Bearer ${admin}` };
  if (init.contentType) headers['content-type'] = init.contentType;
  const res = await fetch(`${app.url}${init.path ?? pathOf(route)}${init.query ? `?${init.query}` : ''}`, {
    method: route.method,
    headers,
    redirect: 'manual',
    ...(init.body !== undefined && { body: init.body }),
  });
  const body = await res.text();
  const problem = res.headers.get('content-type') === 'application/problem+json';
  return { route: route.handler, what, status: res.status, problem, body: body.slice(0, 300) };
}

/** Every hostile request for one route. */
function casesFor(route: Route): (() => Promise<Sent>)[] {
  const cases: (() => Promise<Sent>)[] = [];
  const params = route.path.match(/\{\w+\}/g)?.map((p) => p.slice(1, -1)) ?? [];
  for (const name of params) {
    for (const segment of HOSTILE_SEGMENTS) {
      cases.push(() =>
        send(route, `path ${name}=${segment.slice(0, 20)}`, { path: pathOf(route, { [name]: segment }) }),
      );
    }
  }
  const shape = (route.query as { shape?: Record<string, unknown> } | undefined)?.shape;
  for (const key of Object.keys(shape ?? {})) {
    for (const value of HOSTILE_QUERY_VALUES) {
      cases.push(() => send(route, `query ${key}=${value.slice(0, 20)}`, { query: `${key}=${value}` }));
    }
    cases.push(() => send(route, `query ${key} repeated`, { query: `${key}=a&${key}=b&${key}[x]=c` }));
  }
  if (route.body) {
    const example = exampleBody(route);
    const json = (body: unknown) => ({ body: JSON.stringify(body), contentType: 'application/json' });
    for (const junk of [[], [example], 'text', 42, null, { [Symbol.iterator]: 1, a: { b: { c: [[[]]] } } }]) {
      cases.push(() => send(route, `body ${JSON.stringify(junk)?.slice(0, 20)}`, json(junk)));
    }
    for (const leaf of leaves(example)) {
      const current = leaf.reduce<unknown>((v, k) => (v as Record<string | number, unknown>)?.[k], example);
      for (const value of typeof current === 'string' ? HOSTILE_VALUES : WRONG_TYPES) {
        const what = `body ${leaf.join('.')}=${JSON.stringify(value)?.slice(0, 20)}`;
        cases.push(() => send(route, what, json(replaced(example, leaf, value))));
      }
    }
    if (route.bodyTypes?.includes('form')) {
      for (const value of HOSTILE_QUERY_VALUES) {
        cases.push(() =>
          send(route, `form username=${value.slice(0, 20)}`, {
            body: `username=${value}&password=${value}`,
            contentType: 'application/x-www-form-urlencoded',
          }),
        );
      }
    }
    if (route.bodyTypes?.includes('multipart')) {
      const form = (fields: Record<string, string>, boundary = 'XyZ') => ({
        body: `${Object.entries(fields)
          .map(([k, v]) => `--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
          .join('')}--${boundary}--\r\n`,
        contentType: `multipart/form-data; boundary=${boundary}`,
      });
      const valid = { name: 'Text', type: 'text_block', options: '{"text":"hello"}' };
      cases.push(() =>
        send(route, 'multipart without boundary', {
          ...form(valid),
          contentType: 'multipart/form-data; charset=utf-8',
        }),
      );
      cases.push(() =>
        send(route, 'multipart empty boundary', {
          ...form(valid),
          contentType: 'multipart/form-data; boundary=',
        }),
      );
      cases.push(() =>
        send(route, 'multipart truncated', {
          body: '--XyZ\r\ncontent-disposition: form-data; name="na',
          contentType: 'multipart/form-data; boundary=XyZ',
        }),
      );
      for (const [field, value] of [
        ['name', 'a\u0000b'],
        ['options', '{"text":"a\\u0000b"}'],
        ['options', '{"text":"\\ud800"}'],
        ['options', '[1,2]'],
        ['type', '\u0000'],
      ] as const) {
        cases.push(() => send(route, `multipart ${field}=${value}`, form({ ...valid, [field]: value })));
      }
    }
  }
  return cases;
}

/** Runs tasks with at most `width` in flight. */
async function pool<T>(tasks: (() => Promise<T>)[], width: number): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]!();
      }
    }),
  );
  return results;
}

beforeAll(async () => {
  fake = await startFakeLlm();
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = 'sk-fuzz';
  process.env.OPENAI_MODELS = 'fake-model';
  app = await startTestApp();
  admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  const victim = await app.api.newUser(admin);
  ids.victim = victim.id;
  victimEmail = victim.email;
  const ws = `/api/v1/workspaces`;
  ids.ws = (await app.api.post(ws, { token: admin, json: { name: 'Fuzz' } })).body.id;
  const text = await app.api.post(`${ws}/${ids.ws}/datasources`, {
    token: admin,
    json: { name: 'Text', type: 'text_block', options: { text: 'The budget raises taxes.' } },
  });
  ids.text = text.body.data[0].id;
  const csv = makeCsv([
    ['title', 'body'],
    ['One', 'First row'],
    ['Two', 'Second row'],
  ]);
  const form = new FormData();
  form.append('name', 'Rows');
  form.append('type', 'csv');
  form.append('options', '{}');
  form.append('files', new Blob([csv]), 'rows.csv');
  const created = await fetch(`${app.url}${ws}/${ids.ws}/datasources`, {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}` },
    body: form,
  });
  ids.csv = ((await created.json()) as { data: { id: string }[] }).data[0]!.id;
  await waitForDatasource(app.api, admin, ids.ws!, ids.text!);
  await waitForDatasource(app.api, admin, ids.ws!, ids.csv!);
  ids.record = (
    await app.api.get(`${ws}/${ids.ws}/datarecords?datasource_id=${ids.text}`, { token: admin })
  ).body.data[0].id;
  ids.scheme = (
    await app.api.post(`${ws}/${ids.ws}/classification_schemes`, { token: admin, json: topics })
  ).body.id;
  const job = await app.api.post(`${ws}/${ids.ws}/classification_jobs`, {
    token: admin,
    json: {
      name: 'Job',
      scheme_ids: [ids.scheme],
      datasource_ids: [ids.text],
      provider: 'openai',
      model: 'fake-model',
    },
  });
  ids.job = job.body.id;
  for (let i = 0; i < 100; i++) {
    const results = await app.api.get(`${ws}/${ids.ws}/classification_results?job_id=${ids.job}`, {
      token: admin,
    });
    ids.result = results.body.data[0]?.id;
    if (ids.result) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(ids.result).toBeDefined();
  ids.task = (
    await app.api.post(`${ws}/${ids.ws}/recurring_tasks`, { token: admin, json: classifyTask() })
  ).body.id;
  expect(ids.task).toBeDefined();
  const link = await app.api.post(`/api/v1/shareables`, {
    token: admin,
    json: { resource_type: 'workspace', resource_id: ids.ws, requires_login: false },
  });
  ids.share = link.body.id;
  ids.shareToken = link.body.token;
  expect(ids.shareToken).toBeDefined();
  ids.dataset = (
    await app.api.post(`${ws}/${ids.ws}/datasets`, {
      token: admin,
      json: { name: 'D', record_ids: [ids.record] },
    })
  ).body.id;
  expect(ids.dataset).toBeDefined();
  ids.export = (
    await app.api.post(`${ws}/${ids.ws}/exports`, { token: admin, json: { type: 'workspace' } })
  ).body.id;
  ids.import = (await app.api.post(`${ws}/${ids.ws}/imports`, { token: admin, json: {} })).body.id;
  expect(ids.export && ids.import).toBeDefined();
  ids.webhook = (
    await app.api.post(`${ws}/${ids.ws}/webhooks`, {
      token: admin,
      json: { url: 'https://hooks.example.com/docsift', event_types: ['job.completed'] },
    })
  ).body.id;
  expect(ids.webhook).toBeDefined();
});
afterAll(async () => {
  await app?.stop();
  await fake?.close();
});

describe('fuzzing every route of the table', () => {
  it('answers hostile input with a 4xx problem (or a 2xx), never a 500', async () => {
    // Destructive routes go last, so the resources they delete serve every other route first.
    const ordered = [...routes].sort((a, b) => Number(a.method === 'DELETE') - Number(b.method === 'DELETE'));
    const cases = ordered.flatMap(casesFor);
    const sent = await pool(cases, 8);
    const failures = sent.filter((s) => s.status >= 500);
    console.info(
      `fuzz: ${sent.length} requests over ${routes.length} routes, ${failures.length} answered 5xx`,
    );
    for (const f of failures.slice(0, 40)) console.info(`  ${f.status} ${f.route} ${f.what}: ${f.body}`);
    expect(failures.map((f) => `${f.status} ${f.route} ${f.what}`)).toEqual([]);
    const bare = sent.filter((s) => s.status >= 400 && !s.problem);
    expect(bare.map((f) => `${f.status} ${f.route} ${f.what}`)).toEqual([]);
    // Thousands of requests over every route (and the /compat ones): about 20 s alone, more
    // when the machine is shared.
  }, 120_000);
});
