import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { type FakeLlm, startFakeLlm } from '#test/support/fake-llm.ts';
import { makeCsv, makePdf } from '#test/support/fixtures.ts';
import { article, startSite } from '#test/support/ingest.ts';

/**
 * The reference system's own client (open-politics-hq's generated frontend client) against the
 * reference-client profile: every request shape that ../shared/REFERENCE-CLIENT.md lists, sent
 * over HTTP as that client sends it (multipart forms, nulls for unused fields, `skip` paging,
 * repeated query parameters, the reference's paths), each answer checked against the shape
 * the client reads. Built from that description, not from the reference's code.
 */

// What the reference's client reads, operation by operation. Ids are UUIDs here (a deliberate
// difference; the client passes them through). Loose objects: more fields are fine.
const Id = z.string().min(1);
const Time = z.iso.datetime({ offset: true });
const Json = z.record(z.string(), z.unknown());
const Token = z.object({ access_token: z.string(), token_type: z.string() });
const Message = z.object({ message: z.string() });
const Problem = z.object({ detail: z.string() });
const UserOut = z.object({
  id: Id,
  email: z.string(),
  is_active: z.boolean(),
  is_superuser: z.boolean(),
  full_name: z.string().nullable(),
});
const WorkspaceRead = z.object({
  id: Id,
  name: z.string(),
  description: z.string().nullable(),
  icon: z.string().nullable(),
  created_at: Time,
  updated_at: Time,
  user_id_ownership: Id,
});
const DataSourceRead = z.object({
  id: Id,
  name: z.string().nullable(),
  type: z.enum(['csv', 'pdf', 'bulk_pdf', 'url', 'url_list', 'text_block']),
  origin_details: Json,
  source_metadata: Json,
  status: z.enum(['pending', 'processing', 'complete', 'failed']),
  error_message: z.string().nullable(),
  workspace_id: Id,
  user_id: Id,
  created_at: Time,
  updated_at: Time,
  data_record_count: z.number().int(),
  description: z.string().nullable(),
});
const DataRecordRead = z.object({
  id: Id,
  title: z.string().nullable(),
  text_content: z.string(),
  source_metadata: Json,
  event_timestamp: Time.nullable(),
  datasource_id: Id,
  created_at: Time,
  content_hash: z.string(),
});
const Field = z.object({ name: z.string(), description: z.string(), type: z.string() });
const SchemeRead = z.object({
  id: Id,
  name: z.string(),
  description: z.string(),
  model_instructions: z.string().nullable(),
  validation_rules: Json.nullable(),
  workspace_id: Id,
  user_id: Id,
  created_at: Time,
  updated_at: Time,
  fields: z.array(Field),
  classification_count: z.number().int(),
  job_count: z.number().int(),
});
const JobRead = z.object({
  id: Id,
  name: z.string(),
  description: z.string().nullable(),
  configuration: Json,
  status: z.string(),
  error_message: z.string().nullable(),
  workspace_id: Id,
  user_id: Id,
  created_at: Time,
  updated_at: Time,
  result_count: z.number().int(),
  datarecord_count: z.number().int(),
  target_scheme_ids: z.array(Id),
  target_datasource_ids: z.array(Id),
});
const ResultRead = z.object({
  id: Id,
  datarecord_id: Id,
  scheme_id: Id,
  job_id: Id,
  value: Json,
  timestamp: Time,
  display_value: z.unknown(),
});
const TaskRead = z.object({
  id: Id,
  name: z.string(),
  type: z.enum(['ingest', 'classify']),
  schedule: z.string(),
  configuration: Json,
  status: z.enum(['active', 'paused', 'error']),
  workspace_id: Id,
  created_at: Time,
  updated_at: Time,
  last_run_at: Time.nullable(),
});
const Paged = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), count: z.number().int() });

let app: TestApp;
let fake: FakeLlm;
let site: { url: string; close: () => Promise<void> };
let admin: string;
let token: string;
let base: string;
const compatibleOperations = new Set<string>();

type Sent = { status: number; body: any; text: string; headers: Headers };

/** One request as the reference's client (axios) makes it: JSON, a FormData (multipart), or nothing. */
async function send(
  method: string,
  path: string,
  options: { json?: unknown; form?: FormData; query?: [string, string][]; auth?: string | null } = {},
): Promise<Sent> {
  const url = new URL(`${base}${path}`);
  for (const [k, v] of options.query ?? []) url.searchParams.append(k, v);
  const headers: Record<string, string> = {};
  const auth = options.auth === undefined ? token : options.auth;
  if (auth) headers.authorization = `Bearer ${auth}`;
  let body: string | FormData | undefined;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form) body = options.form;
  const res = await fetch(url, { method, headers, ...(body !== undefined && { body }) });
  const text = await res.text();
  const json = /json/.test(res.headers.get('content-type') ?? '') && text ? JSON.parse(text) : text;
  return { status: res.status, body: json, text, headers: res.headers };
}

/** Checks an answer against what the client expects, and counts the operation compatible. */
function expectShape<T extends z.ZodType>(
  operation: string,
  res: Sent,
  status: number[],
  shape: T,
): z.output<T> {
  expect(status, `${operation}: ${res.status} ${res.text.slice(0, 300)}`).toContain(res.status);
  const parsed = shape.safeParse(res.body);
  expect(parsed.error?.issues ?? [], `${operation}: ${res.text.slice(0, 300)}`).toEqual([]);
  compatibleOperations.add(operation);
  return res.body as z.output<T>;
}

function form(fields: Record<string, string | Blob | Blob[]>): FormData {
  const data = new FormData();
  for (const [key, value] of Object.entries(fields)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      if (v instanceof File) data.append(key, v, v.name);
      else data.append(key, v);
    }
  }
  return data;
}

async function poll(path: string, done: (body: any) => boolean): Promise<any> {
  for (let i = 0; i < 200; i++) {
    const res = await send('GET', path);
    if (done(res.body)) return res.body;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${path} did not finish`);
}

beforeAll(async () => {
  fake = await startFakeLlm();
  site = await startSite({ '/a': article('A', 'An article about taxes and the budget.') });
  process.env.OPENAI_BASE_URL = `${fake.url}/v1`;
  process.env.OPENAI_API_KEY = 'test-key';
  process.env.OPENAI_MODELS = 'fake-model,other-model';
  app = await startTestApp({ SCRAPER_ALLOW_PRIVATE_HOSTS: 'true' });
  base = `${app.url}/compat`;
  admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
});
afterAll(async () => {
  await app?.stop();
  await site?.close();
  await fake?.close();
});

describe('the reference client against /compat', () => {
  let ws: string;
  let textDs: string;
  let csvDs: string;
  let pdfDs: string;
  let scheme: string;
  let job: string;

  it('logs in with a multipart form, and manages users', async () => {
    const user = { email: 'ref-client@example.com', password: 'correct-horse-battery-9' };
    token = admin;
    const created = expectShape(
      'UsersService.createUser',
      await send('POST', '/api/v1/users/', {
        json: { ...user, full_name: null, is_active: true, is_superuser: false },
      }),
      [200, 201],
      UserOut,
    );
    const login = expectShape(
      'LoginService.loginAccessToken',
      await send('POST', '/api/v1/login/access-token', {
        form: form({ grant_type: 'password', username: user.email, password: user.password, scope: '' }),
        auth: null,
      }),
      [200],
      Token,
    );
    expectShape('LoginService.testToken', await send('POST', '/api/v1/login/test-token'), [200], UserOut);
    expectShape(
      'UsersService.readUsers',
      await send('GET', '/api/v1/users/', {
        query: [
          ['skip', '0'],
          ['limit', '2000'],
        ],
      }),
      [200],
      Paged(UserOut),
    );
    expectShape(
      'UsersService.readUserById',
      await send('GET', `/api/v1/users/${created.id}`),
      [200],
      UserOut,
    );
    expectShape(
      'UsersService.updateUser',
      await send('PATCH', `/api/v1/users/${created.id}`, {
        json: { email: null, password: null, full_name: 'Ref Client', is_active: true, is_superuser: false },
      }),
      [200],
      UserOut,
    );
    const html = await send('POST', `/api/v1/password-recovery-html-content/${user.email}`);
    expect(html.status).toBe(200);
    expect(html.headers.get('content-type')).toMatch(/^text\/html/);
    expect(html.text).toContain('reset-password');
    compatibleOperations.add('LoginService.recoverPasswordHtmlContent');
    expectShape(
      'LoginService.recoverPassword',
      await send('POST', `/api/v1/password-recovery/${user.email}`, { auth: null }),
      [200],
      Message,
    );
    expectShape(
      'LoginService.resetPassword',
      await send('POST', '/api/v1/reset-password/', {
        json: { token: 'not-a-token', new_password: 'x-new-pass-77' },
        auth: null,
      }),
      [400],
      Problem,
    );
    expectShape(
      'UsersService.registerUser',
      await send('POST', '/api/v1/users/open', {
        json: { email: 'open@example.com', password: 'an-open-pass-9', full_name: null },
        auth: null,
      }),
      [403],
      Problem,
    );

    token = login.access_token;
    expectShape('UsersService.readUserMe', await send('GET', '/api/v1/users/me'), [200], UserOut);
    const me = expectShape(
      'UsersService.updateUserMe',
      await send('PATCH', '/api/v1/users/me', { json: { email: null, full_name: 'Me' } }),
      [200],
      UserOut,
    );
    expect(me.email).toBe(user.email);
    expectShape(
      'UsersService.updatePasswordMe',
      await send('PATCH', '/api/v1/users/me/password', {
        json: { current_password: user.password, new_password: 'another-horse-battery-8' },
      }),
      [200],
      Message,
    );
    token = (
      await send('POST', '/api/v1/login/access-token', {
        form: form({ username: user.email, password: 'another-horse-battery-8' }),
        auth: null,
      })
    ).body.access_token;

    const victim = await app.api.newUser(admin);
    expectShape(
      'UsersService.deleteUser',
      await send('DELETE', `/api/v1/users/${victim.id}`, { auth: admin }),
      [200],
      Message,
    );
  });

  it('manages workspaces, a bare array in the list', async () => {
    const created = expectShape(
      'WorkspacesService.createWorkspace',
      await send('POST', '/api/v1/workspaces/', {
        json: { name: 'Reference', description: null, icon: null },
      }),
      [200, 201],
      WorkspaceRead,
    );
    ws = created.id;
    const list = expectShape(
      'WorkspacesService.readWorkspaces',
      await send('GET', '/api/v1/workspaces/', {
        query: [
          ['skip', '0'],
          ['limit', '100'],
        ],
      }),
      [200],
      z.array(WorkspaceRead),
    );
    expect(list.map((w) => w.id)).toContain(ws);
    expectShape(
      'WorkspacesService.readWorkspaceById',
      await send('GET', `/api/v1/workspaces/${ws}`),
      [200],
      WorkspaceRead,
    );
    expectShape(
      'WorkspacesService.updateWorkspace',
      await send('PATCH', `/api/v1/workspaces/${ws}`, {
        json: { name: 'Reference 2', description: null, icon: null },
      }),
      [200],
      WorkspaceRead,
    );
    expectShape(
      'WorkspacesService.ensureDefaultWorkspace',
      await send('POST', '/api/v1/workspaces/ensure-default'),
      [200],
      WorkspaceRead,
    );
    const other = (await send('POST', '/api/v1/workspaces/', { json: { name: 'Gone' } })).body.id;
    const gone = await send('DELETE', `/api/v1/workspaces/${other}`);
    expect([200, 204]).toContain(gone.status);
    compatibleOperations.add('WorkspacesService.deleteWorkspace');
  });

  it('creates datasources from multipart forms with origin_details, files, skip_rows and delimiter', async () => {
    const W = `/api/v1/workspaces/${ws}`;
    const text = expectShape(
      'DatasourcesService.createDatasource (text_block)',
      await send('POST', `${W}/datasources/`, {
        form: form({
          name: 'Note',
          type: 'text_block',
          origin_details: JSON.stringify({ text_content: 'Taxes rise. The budget grows.' }),
        }),
      }),
      [200, 201],
      z.union([DataSourceRead, z.array(DataSourceRead), z.object({ data: z.array(DataSourceRead) })]),
    );
    textDs = (Array.isArray(text) ? text[0] : 'data' in text ? text.data[0] : text)!.id;
    const urls = await send('POST', `${W}/datasources/`, {
      form: form({
        name: 'News',
        type: 'url_list',
        origin_details: JSON.stringify({ urls: [`${site.url}/a`] }),
      }),
    });
    expect(urls.status).toBe(201);
    const one = await send('POST', `${W}/datasources/`, {
      form: form({ name: 'One', type: 'url', origin_details: JSON.stringify({ url: `${site.url}/a` }) }),
    });
    expect(one.status).toBe(201);
    const csv = new File(
      [makeCsv([['# exported'], ['speaker', 'text'], ['Ann', 'Taxes'], ['Bob', 'Budget']], ';')],
      'speeches.csv',
      { type: 'text/csv' },
    );
    const csvRes = await send('POST', `${W}/datasources/`, {
      form: form({
        name: 'Speeches',
        type: 'csv',
        origin_details: '{}',
        files: [csv],
        skip_rows: '1',
        delimiter: ';',
      }),
    });
    expect(csvRes.status).toBe(201);
    expect(csvRes.body.data[0].status).toBe('pending');
    csvDs = csvRes.body.data[0].id;
    const pdf = new File([await makePdf(['Page one about taxes', 'Page two'])], 'report.pdf', {
      type: 'application/pdf',
    });
    const pdfRes = await send('POST', `${W}/datasources/`, {
      form: form({ name: 'Report', type: 'pdf', files: [pdf] }),
    });
    expect(pdfRes.status).toBe(201);
    pdfDs = pdfRes.body.data[0].id;

    for (const id of [textDs, csvDs, pdfDs]) {
      const done = await poll(
        `${W}/datasources/${id}`,
        (d) => d.status === 'complete' || d.status === 'failed',
      );
      expect(done.status, JSON.stringify(done.error_message)).toBe('complete');
    }
    const read = expectShape(
      'DatasourcesService.getDatasource',
      await send('GET', `${W}/datasources/${csvDs}`),
      [200],
      DataSourceRead,
    );
    expect(read.data_record_count).toBe(2);
    expect((await send('GET', `${W}/datasources/${textDs}`)).body.origin_details.text_content).toBe(
      'Taxes rise. The budget grows.',
    );
    expectShape(
      'DatasourcesService.listDatasources',
      await send('GET', `${W}/datasources/`, {
        query: [
          ['skip', '0'],
          ['limit', '2000'],
        ],
      }),
      [200],
      Paged(DataSourceRead),
    );
    const rows = expectShape(
      'DatasourcesService.readDatasourceRows',
      await send('GET', `${W}/datasources/${csvDs}/rows`, {
        query: [
          ['skip', '1'],
          ['limit', '5'],
        ],
      }),
      [200],
      z.object({
        data: z.array(z.object({ row_data: Json, row_number: z.number() })),
        total_rows: z.number(),
        columns: z.array(z.string()),
      }),
    );
    expect(rows.data.map((r) => r.row_data.speaker)).toEqual(['Bob']);
    expectShape(
      'DatasourcesService.updateDatasource',
      await send('PUT', `${W}/datasources/${csvDs}`, {
        json: { name: 'Speeches 2', status: null, source_metadata: null, error_message: null },
      }),
      [200],
      DataSourceRead,
    );
    expect((await send('PUT', `${W}/datasources/${csvDs}`, { json: { status: 'failed' } })).status).toBe(409);
    const download = await fetch(`${base}${W}/datasources/${pdfDs}/pdf_download`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(download.status).toBe(200);
    expect(
      Buffer.from(await download.arrayBuffer())
        .subarray(0, 5)
        .toString(),
    ).toBe('%PDF-');
    compatibleOperations.add('DatasourcesService.downloadDatasourcePdf');
  });

  it('reads and appends records by datasource, a bare array', async () => {
    const W = `/api/v1/workspaces/${ws}`;
    const records = expectShape(
      'DatarecordsService.getDatarecordsByDatasource',
      await send('GET', `${W}/datarecords/by_datasource/${csvDs}`, {
        query: [
          ['skip', '0'],
          ['limit', '5000'],
        ],
      }),
      [200],
      z.array(DataRecordRead),
    );
    expect(records).toHaveLength(2);
    expect(
      (
        await send('GET', `${W}/datarecords/by_datasource/${csvDs}`, {
          query: [
            ['skip', '1'],
            ['limit', '5'],
          ],
        })
      ).body,
    ).toHaveLength(1);
    expectShape(
      'DatarecordsService.getDatarecord',
      await send('GET', `${W}/datarecords/${records[0]!.id}`),
      [200],
      DataRecordRead,
    );
    expectShape(
      'DatarecordsService.appendRecord',
      await send('POST', `${W}/datarecords/by_datasource/${textDs}/records`, {
        json: { content: 'An appended note on taxes.', content_type: 'text', event_timestamp: null },
      }),
      [200, 201],
      DataRecordRead,
    );
  });

  it('creates schemes with nulls for unused options, lists them bare, updates with the whole payload, deletes one and all', async () => {
    const W = `/api/v1/workspaces/${ws}`;
    const payload = {
      name: 'Stance',
      description: 'Stance on taxes',
      model_instructions: null,
      validation_rules: null,
      fields: [
        {
          name: 'stance',
          description: 'For or against',
          type: 'str',
          scale_min: null,
          scale_max: null,
          is_set_of_labels: true,
          labels: ['for', 'against'],
          dict_keys: null,
          is_time_axis_hint: null,
        },
        {
          name: 'intensity',
          description: '1 to 5',
          type: 'int',
          scale_min: 1,
          scale_max: 5,
          is_set_of_labels: false,
          labels: [],
          dict_keys: null,
          is_time_axis_hint: false,
        },
        {
          name: 'people',
          description: 'Named people',
          type: 'List[Dict[str, any]]',
          scale_min: null,
          scale_max: null,
          is_set_of_labels: null,
          labels: null,
          dict_keys: [{ name: 'name', type: 'str' }],
          is_time_axis_hint: null,
        },
      ],
    };
    const created = expectShape(
      'ClassificationSchemesService.createClassificationScheme',
      await send('POST', `${W}/classification_schemes/`, { json: payload }),
      [200, 201],
      SchemeRead,
    );
    scheme = created.id;
    expect(created.fields[1]).toMatchObject({ is_time_axis_hint: false });
    const list = expectShape(
      'ClassificationSchemesService.readClassificationSchemes',
      await send('GET', `${W}/classification_schemes/`, {
        query: [
          ['skip', '0'],
          ['limit', '100'],
        ],
      }),
      [200],
      z.array(SchemeRead),
    );
    expect(list).toHaveLength(1);
    expectShape(
      'ClassificationSchemesService.readClassificationScheme',
      await send('GET', `${W}/classification_schemes/${scheme}`),
      [200],
      SchemeRead,
    );
    const updated = expectShape(
      'ClassificationSchemesService.updateClassificationScheme',
      await send('PATCH', `${W}/classification_schemes/${scheme}`, {
        json: { ...payload, validation_rules: { min_fields: 1 } },
      }),
      [200],
      SchemeRead,
    );
    expect(updated.validation_rules).toEqual({ min_fields: 1 });
    const spare = (
      await send('POST', `${W}/classification_schemes/`, { json: { ...payload, name: 'Spare' } })
    ).body.id;
    const deleted = await send('DELETE', `${W}/classification_schemes/${spare}`);
    expect([200, 204]).toContain(deleted.status);
    compatibleOperations.add('ClassificationSchemesService.deleteClassificationScheme');
  });

  it('runs a job from a configuration with llm_provider and llm_model, stops one with PATCH, and reads results', async () => {
    const W = `/api/v1/workspaces/${ws}`;
    const created = expectShape(
      'ClassificationJobsService.createClassificationJob',
      await send('POST', `${W}/classification_jobs/`, {
        json: {
          name: 'Stance run',
          description: null,
          configuration: {
            datasource_ids: [csvDs, textDs],
            scheme_ids: [scheme],
            llm_provider: 'openai',
            llm_model: 'other-model',
          },
        },
      }),
      [200, 201],
      JobRead,
    );
    job = created.id;
    expect(created.configuration).toMatchObject({ llm_provider: 'openai', llm_model: 'other-model' });
    const done = await poll(`${W}/classification_jobs/${job}`, (j) =>
      ['completed', 'completed_with_errors', 'failed'].includes(j.status),
    );
    expect(done.status).toBe('completed');
    expectShape(
      'ClassificationJobsService.getClassificationJob',
      await send('GET', `${W}/classification_jobs/${job}`),
      [200],
      JobRead,
    );
    expectShape(
      'ClassificationJobsService.listClassificationJobs',
      await send('GET', `${W}/classification_jobs/`, {
        query: [
          ['skip', '0'],
          ['limit', '100'],
        ],
      }),
      [200],
      Paged(JobRead),
    );
    expect(fake.requests.some((r) => r.body.model === 'other-model')).toBe(true);

    const records = (await send('GET', `${W}/datarecords/by_datasource/${csvDs}`)).body as { id: string }[];
    const results = expectShape(
      'ClassificationResultsService.listClassificationResults',
      await send('GET', `${W}/classification_results/`, {
        query: [
          ['job_id', job],
          ['datarecord_ids', records[0]!.id],
          ['datarecord_ids', records[1]!.id],
          ['scheme_ids', scheme],
          ['skip', '0'],
          ['limit', '5000'],
        ],
      }),
      [200],
      z.array(ResultRead),
    );
    expect(results.map((r) => r.datarecord_id).sort()).toEqual(records.map((r) => r.id).sort());
    expectShape(
      'ClassificationResultsService.getClassificationResult',
      await send('GET', `${W}/classification_results/${results[0]!.id}`),
      [200],
      ResultRead,
    );
    const ofJob = expectShape(
      'ClassificationResultsService.getJobResults',
      await send('GET', `${W}/classification_jobs/${job}/results`, {
        query: [
          ['skip', '0'],
          ['limit', '2000'],
        ],
      }),
      [200],
      z.array(ResultRead),
    );
    expect(ofJob).toHaveLength(4);

    fake.onRequest(() => ({ kind: 'status', status: 503 }));
    const second = (
      await send('POST', `${W}/classification_jobs/`, {
        json: { name: 'To stop', configuration: { datasource_ids: [csvDs], scheme_ids: [scheme] } },
      })
    ).body.id;
    const paused = await send('PATCH', `${W}/classification_jobs/${second}`, {
      json: { status: 'paused', error_message: null },
    });
    expect(paused.status).toBe(409);
    expect(paused.body.detail).toMatch(/cannot pause/);
    const stopped = expectShape(
      'ClassificationJobsService.updateClassificationJob',
      await send('PATCH', `${W}/classification_jobs/${second}`, {
        json: { status: 'cancelled', error_message: null },
      }),
      [200],
      JobRead,
    );
    expect(stopped.status).toBe('cancelled');
    fake.onRequest(() => undefined);
    const gone = await send('DELETE', `${W}/classification_jobs/${second}`);
    expect([200, 204]).toContain(gone.status);
    compatibleOperations.add('ClassificationJobsService.deleteClassificationJob');
    expectShape(
      'ClassificationService.getProviders',
      await send('GET', '/api/v2/classification/providers'),
      [200],
      z.object({ data: z.array(z.object({ name: z.string(), models: z.array(z.string()) })) }),
    );
  });

  it('manages recurring tasks', async () => {
    const W = `/api/v1/workspaces/${ws}`;
    const task = expectShape(
      'RecurringTasksService.createRecurringTask',
      await send('POST', `${W}/recurring_tasks/`, {
        json: {
          name: 'Nightly',
          description: null,
          type: 'classify',
          schedule: '0 3 * * *',
          configuration: { datasource_ids: [csvDs], scheme_ids: [scheme] },
          status: 'paused',
        },
      }),
      [200, 201],
      TaskRead,
    );
    expectShape(
      'RecurringTasksService.readRecurringTasks',
      await send('GET', `${W}/recurring_tasks/`, {
        query: [
          ['skip', '0'],
          ['limit', '100'],
        ],
      }),
      [200],
      Paged(TaskRead),
    );
    expectShape(
      'RecurringTasksService.updateRecurringTask',
      await send('PATCH', `${W}/recurring_tasks/${task.id}`, { json: { name: 'Nightly 2' } }),
      [200],
      TaskRead,
    );
    const gone = await send('DELETE', `${W}/recurring_tasks/${task.id}`);
    expect([200, 204]).toContain(gone.status);
    compatibleOperations.add('RecurringTasksService.deleteRecurringTask');
  });

  it('deletes a datasource and every scheme, and names parameters it does not take', async () => {
    const W = `/api/v1/workspaces/${ws}`;
    const unknown = await send('GET', `${W}/classification_results/`, { query: [['record_ids', csvDs]] });
    expect(unknown.status).toBe(422);
    expect(unknown.body.errors.map((e: { path: string }) => e.path)).toEqual(['record_ids']);
    const ds = await send('DELETE', `${W}/datasources/${pdfDs}`);
    expect([200, 204]).toContain(ds.status);
    compatibleOperations.add('DatasourcesService.deleteDatasource');
    const all = await send('DELETE', `${W}/classification_schemes`);
    expect([200, 204]).toContain(all.status);
    expect((await send('GET', `${W}/classification_schemes/`)).body).toEqual([]);
    compatibleOperations.add('ClassificationSchemesService.deleteAllClassificationSchemes');
  });

  it('covers every operation in scope', () => {
    console.log(`reference client: ${compatibleOperations.size} operations compatible`);
    expect(compatibleOperations.size).toBe(49);
  });
});
