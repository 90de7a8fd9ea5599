import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { SUPERUSER, startTestApp, type TestApp } from '#test/support/app.ts';
import { waitFor } from '#test/support/bundles.ts';
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
type ResultRow = z.output<typeof ResultRead>;
const Paged = <T extends z.ZodType>(item: T) => z.object({ data: z.array(item), count: z.number().int() });
const ResourceType = z.enum(['data_source', 'schema', 'workspace', 'classification_job', 'dataset']);
const Permission = z.enum(['read_only', 'edit', 'full_access']);
const ShareableLinkRead = z.object({
  id: Id,
  token: z.string(),
  user_id: Id,
  resource_type: ResourceType,
  resource_id: Id,
  name: z.string().nullable(),
  description: z.string().nullable(),
  permission_level: Permission,
  is_public: z.boolean(),
  requires_login: z.boolean(),
  expiration_date: Time.nullable(),
  max_uses: z.number().int().nullable(),
  use_count: z.number().int(),
  created_at: Time,
  updated_at: Time,
  share_url: z.string().nullable(),
});
const ShareableLinkStats = z.object({
  total_links: z.number().int(),
  active_links: z.number().int(),
  expired_links: z.number().int(),
  links_by_resource_type: z.record(z.string(), z.number().int()),
  most_shared_resources: z.array(Json),
  most_used_links: z.array(Json),
});
const SharedResourceAccess = z.object({
  resource_type: ResourceType,
  resource_id: Id,
  permission_level: Permission,
  data: Json,
});
const PackageEntity = z.object({
  entity_uuid: z.string().nullable(),
  name: z.string().nullable(),
  description: z.string().nullable(),
});
const DatasetPackageSummary = z.object({
  package_metadata: Json,
  dataset_details: PackageEntity,
  record_count: z.number().int(),
  included_schemes: z.array(PackageEntity),
  included_jobs: z.array(PackageEntity),
});
// `datarecord_ids` is deliberately absent (the member count comes as member_count; README).
const DatasetRead = z.object({
  id: Id,
  name: z.string(),
  description: z.string().nullable(),
  custom_metadata: Json,
  workspace_id: Id,
  created_at: Time,
  updated_at: Time,
  source_job_ids: z.array(Id),
  source_scheme_ids: z.array(Id),
});
// docsift imports in the background: the answer is the import to poll (a documented difference).
const ImportStarted = z.object({ id: Id, workspace_id: Id, status: z.string(), message: z.string() });

let app: TestApp;
let fake: FakeLlm;
let site: { url: string; close: () => Promise<void> };
let admin: string;
let token: string;
let base: string;
const compatibleOperations = new Set<string>();
/** Served, but the answer is not what the client reads (README: deliberate differences). */
const differingOperations = new Set<string>();
/** Not served: a 4xx problem that says what to do instead (README: deliberate differences). */
const refusedOperations = new Set<string>();

type Sent = { status: number; body: any; text: string; headers: Headers };

/** One request as the reference's client (axios) makes it: JSON, a FormData (multipart), or nothing. */
async function send(
  method: string,
  path: string,
  options: {
    json?: unknown;
    form?: FormData | URLSearchParams;
    query?: [string, string][];
    auth?: string | null;
  } = {},
): Promise<Sent> {
  const url = new URL(`${base}${path}`);
  for (const [k, v] of options.query ?? []) url.searchParams.append(k, v);
  const headers: Record<string, string> = {};
  const auth = options.auth === undefined ? token : options.auth;
  if (auth) headers.authorization = `Bearer ${auth}`;
  let body: string | FormData | URLSearchParams | undefined;
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

/** An operation docsift does not serve: a 4xx problem whose detail says what to do instead. */
function expectRefused(operation: string, res: Sent, status: number, says: RegExp): void {
  expect(res.status, `${operation}: ${res.text.slice(0, 300)}`).toBe(status);
  expect(res.headers.get('content-type')).toBe('application/problem+json');
  expect(res.body.detail).toMatch(says);
  refusedOperations.add(operation);
}

/** A started import as docsift answers it, polled on docsift's own path until complete. */
async function expectImported(operation: string, res: Sent): Promise<{ counts: Record<string, number> }> {
  expect(res.status, `${operation}: ${res.text.slice(0, 300)}`).toBe(201);
  expect(ImportStarted.safeParse(res.body).error?.issues ?? []).toEqual([]);
  expect(res.body.message).toContain(`/imports/${res.body.id}`);
  const done = await waitFor(
    app.api,
    token,
    `/api/v1/workspaces/${res.body.workspace_id}/imports/${res.body.id}`,
  );
  expect(done.status, done.error_message).toBe('complete');
  differingOperations.add(operation);
  return done;
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
  let urlDs: string;
  let dataset: string;

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
    urlDs = urls.body.data[0].id;
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
    const content = await fetch(`${base}${W}/datasources/${pdfDs}/content`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(content.status).toBe(200);
    expect(
      Buffer.from(await content.arrayBuffer())
        .subarray(0, 5)
        .toString(),
    ).toBe('%PDF-');
    compatibleOperations.add('DatasourcesService.getDatasourceContent');
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
      await send('GET', `${W}/classification_jobs/${job}`, { query: [['include_counts', 'true']] }),
      [200],
      JobRead,
    );
    // The UI asks for counts (include_counts), which every job of docsift's carries.
    expectShape(
      'ClassificationJobsService.listClassificationJobs',
      await send('GET', `${W}/classification_jobs/`, {
        query: [
          ['skip', '0'],
          ['limit', '500'],
          ['include_counts', 'true'],
        ],
      }),
      [200],
      Paged(JobRead),
    );
    const badFlag = await send('GET', `${W}/classification_jobs/`, { query: [['include_counts', 'maybe']] });
    expect(badFlag.status).toBe(422);
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

  it('manages datasets with the reference’s names, makes one from a job, and imports one', async () => {
    const W = `/api/v1/workspaces/${ws}`;
    const records = (await send('GET', `${W}/datarecords/by_datasource/${csvDs}`)).body as { id: string }[];
    const created = expectShape(
      'DatasetsService.createDataset',
      await send('POST', `${W}/datasets/`, {
        json: {
          name: 'Curated',
          description: null,
          custom_metadata: {},
          datarecord_ids: [records[0]!.id],
          source_job_ids: [job],
          source_scheme_ids: [scheme],
        },
      }),
      [200, 201],
      DatasetRead,
    );
    expect(created).toMatchObject({ source_job_ids: [job], source_scheme_ids: [scheme], member_count: 1 });
    dataset = created.id;
    const list = expectShape(
      'DatasetsService.listDatasets',
      await send('GET', `${W}/datasets/`, {
        query: [
          ['skip', '0'],
          ['limit', '1000'],
        ],
      }),
      [200],
      Paged(DatasetRead),
    );
    expect(list.data.map((d) => d.id)).toEqual([dataset]);
    expectShape(
      'DatasetsService.getDataset',
      await send('GET', `${W}/datasets/${dataset}`),
      [200],
      DatasetRead,
    );
    const updated = expectShape(
      'DatasetsService.updateDataset',
      await send('PATCH', `${W}/datasets/${dataset}`, {
        json: {
          name: 'Curated 2',
          description: 'Hand-picked',
          custom_metadata: null,
          datarecord_ids: null,
          source_job_ids: null,
          source_scheme_ids: [],
        },
      }),
      [200],
      DatasetRead,
    );
    expect(updated).toMatchObject({ name: 'Curated 2', source_job_ids: [job], source_scheme_ids: [] });
    const members = await send('PATCH', `${W}/datasets/${dataset}`, { json: { datarecord_ids: [] } });
    expect(members.status).toBe(422);
    expect(members.body.errors[0]).toMatchObject({
      path: 'datarecord_ids',
      message: expect.stringMatching(/members/),
    });

    const fromJob = expectShape(
      'ClassificationJobsService.createDatasetFromJobEndpoint',
      await send('POST', `${W}/classification_jobs/${job}/create_dataset`, {
        json: { name: null, description: null },
      }),
      [200, 201],
      DatasetRead,
    );
    const classified = new Set(
      ((await send('GET', `${W}/classification_jobs/${job}/results`)).body as ResultRow[]).map(
        (r) => r.datarecord_id,
      ),
    );
    expect(fromJob).toMatchObject({
      name: `Dataset from job ${job}`,
      member_count: classified.size,
      source_job_ids: [job],
      source_scheme_ids: [scheme],
    });
    const noJob = await send('POST', `${W}/classification_jobs/${csvDs}/create_dataset`, { json: {} });
    expect(noJob.status).toBe(422);
    expect((await send('GET', `${W}/datasets/`)).body.count).toBe(2);

    expectRefused(
      'DatasetsService.exportDataset',
      await send('POST', `${W}/datasets/${dataset}/export`, {
        query: [
          ['include_content', 'true'],
          ['include_results', 'true'],
          ['include_source_files', 'true'],
        ],
      }),
      406,
      /dataset packages/,
    );
    const referenceDataset = new File(
      [
        JSON.stringify({
          name: 'Imported set',
          description: null,
          custom_metadata: {},
          datarecords: [{ text_content: 'A record of the set.', source_metadata: {}, event_timestamp: null }],
          source_jobs: [],
          source_schemes: [],
        }),
      ],
      'dataset.json',
      { type: 'application/json' },
    );
    const strategy = await send('POST', `${W}/datasets/import`, {
      form: form({ file: referenceDataset }),
      query: [['conflict_strategy', 'replace']],
    });
    expect(strategy.status).toBe(422);
    expect(strategy.body.errors[0].path).toBe('conflict_strategy');
    const imported = await expectImported(
      'DatasetsService.importDataset',
      await send('POST', `${W}/datasets/import`, {
        form: form({ file: referenceDataset }),
        query: [['conflict_strategy', 'skip']],
      }),
    );
    expect(imported.counts).toMatchObject({ datasets: 1, records: 1 });

    const spare = (await send('POST', `${W}/datasets/`, { json: { name: 'Spare' } })).body.id;
    const gone = await send('DELETE', `${W}/datasets/${spare}`);
    expect([200, 204]).toContain(gone.status);
    compatibleOperations.add('DatasetsService.deleteDataset');
  });

  it('shares through links with the reference’s names and levels, and imports from them', async () => {
    const REF = '/api/v1/shareables/shareables';
    const W = `/api/v1/workspaces/${ws}`;
    const link = expectShape(
      'ShareablesService.createShareableLink',
      await send('POST', `${REF}/`, {
        json: {
          resource_type: 'data_source',
          resource_id: csvDs,
          name: 'Speeches',
          description: null,
          permission_level: 'read_only',
          is_public: false,
          requires_login: true,
          expiration_date: null,
          max_uses: null,
        },
      }),
      [200, 201],
      ShareableLinkRead,
    );
    expect(link).toMatchObject({ resource_type: 'data_source', permission_level: 'read_only' });
    expect(link.share_url).toMatch(new RegExp(`/share/${link.token}$`));
    const edit = await send('POST', `${REF}/`, {
      json: { resource_type: 'schema', resource_id: scheme, permission_level: 'edit' },
    });
    expect(edit.status).toBe(422);
    expect(edit.body.errors[0].path).toBe('permission_level');
    const setLink = (
      await send('POST', `${REF}/`, {
        json: {
          resource_type: 'dataset',
          resource_id: dataset,
          permission_level: 'full_access',
          requires_login: false,
        },
      })
    ).body as z.output<typeof ShareableLinkRead>;
    expect(setLink.permission_level).toBe('full_access');

    const mine = expectShape(
      'ShareablesService.getShareableLinks',
      await send('GET', `${REF}/`, { query: [['resource_type', 'data_source']] }),
      [200],
      z.array(ShareableLinkRead),
    );
    expect(mine.map((l) => l.id)).toEqual([link.id]);
    const stats = expectShape(
      'ShareablesService.getShareableLinkStats',
      await send('GET', `${REF}/stats`),
      [200],
      ShareableLinkStats,
    );
    expect(stats.links_by_resource_type).toEqual({ data_source: 1, dataset: 1 });
    expectShape(
      'ShareablesService.getShareableLink',
      await send('GET', `${REF}/${link.id}`),
      [200],
      ShareableLinkRead,
    );
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    const changed = expectShape(
      'ShareablesService.updateShareableLink',
      await send('PUT', `${REF}/${link.id}`, {
        json: {
          name: 'Speeches 2',
          description: null,
          permission_level: null,
          is_public: null,
          requires_login: null,
          expiration_date: tomorrow,
          max_uses: 5,
        },
      }),
      [200],
      ShareableLinkRead,
    );
    expect(changed).toMatchObject({ name: 'Speeches 2', max_uses: 5, requires_login: true });
    expect(Date.parse(changed.expiration_date!)).toBe(Date.parse(tomorrow));

    const access = expectShape(
      'ShareablesService.accessSharedResource',
      await send('GET', `${REF}/access/${setLink.token}`, { auth: null }),
      [200],
      SharedResourceAccess,
    );
    expect(access).toMatchObject({
      resource_type: 'dataset',
      resource_id: dataset,
      permission_level: 'full_access',
      data: { name: 'Curated 2' },
      metadata: { original_dataset_id: dataset, original_workspace_id: ws },
    });
    expect((await send('GET', `${REF}/access/${link.token}`, { auth: null })).status).toBe(401);
    const summary = expectShape(
      'ShareablesService.viewDatasetPackageSummary',
      await send('GET', `${REF}/view_dataset_package_summary/${setLink.token}`, { auth: null }),
      [200],
      DatasetPackageSummary,
    );
    expect(summary).toMatchObject({ dataset_details: { name: 'Curated 2' }, record_count: 1 });
    expect(summary.included_jobs.map((j) => j.entity_uuid)).toEqual([job]);
    expect((await send('GET', `${REF}/view_dataset_package_summary/${link.token}`)).status).toBe(409);
    // The access log names the route with the token left out.
    const log = await app.api.get(`/api/v1/shareables/${setLink.id}/accesses`, { token });
    expect(log.body.data.map((a: { route: string }) => a.route)).toContain(
      `GET /compat${REF}/access/{token}`,
    );
    expect(JSON.stringify(log.body)).not.toContain(setLink.token);

    expectRefused(
      'ShareablesService.exportResource',
      await send('POST', `${REF}/export`, {
        form: new URLSearchParams({ resource_type: 'data_source', resource_id: csvDs }),
      }),
      406,
      /docsift bundle/,
    );
    expectRefused(
      'ShareablesService.exportResourcesBatch',
      await send('POST', `${REF}/export-batch`, {
        json: { resource_type: 'dataset', resource_ids: [dataset] },
      }),
      406,
      /docsift bundle/,
    );
    const referenceDatasource = new File(
      [
        JSON.stringify({
          meta: { export_type: 'datasource', export_version: '1.0', export_id: 'x', original_id: 12 },
          datasource: { name: 'Imported note', type: 'text_block', origin_details: {}, source_metadata: {} },
          records: [{ text_content: 'An imported note.', source_metadata: {}, event_timestamp: null }],
        }),
      ],
      'datasource.json',
      { type: 'application/json' },
    );
    const note = await expectImported(
      'ShareablesService.importResource',
      await send('POST', `${REF}/import/${ws}`, { form: form({ file: referenceDatasource }) }),
    );
    expect(note.counts).toMatchObject({ datasources: 1, records: 1 });
    const copied = await expectImported(
      'DatasetsService.importDatasetFromToken',
      await send('POST', `${W}/datasets/import_from_token`, {
        query: [
          ['share_token', setLink.token],
          ['include_content', 'true'],
          ['include_results', 'false'],
          ['conflict_strategy', 'skip'],
        ],
      }),
    );
    expect(copied.counts).toMatchObject({ datasets: 1 });

    const revoked = await send('DELETE', `${REF}/${link.id}`);
    expect([200, 204]).toContain(revoked.status);
    expect((await send('GET', `${REF}/access/${link.token}`)).status).toBe(404);
    compatibleOperations.add('ShareablesService.deleteShareableLink');
  });

  it('reads a URL list’s URLs, and refuses with a clear problem what docsift does not do', async () => {
    const W = `/api/v1/workspaces/${ws}`;
    const urls = expectShape(
      'DatasourcesService.getDatasourceUrls',
      await send('GET', `${W}/datasources/${urlDs}/urls`),
      [200],
      z.array(z.string()),
    );
    expect(urls).toEqual([`${site.url}/a`]);
    expect((await send('GET', `${W}/datasources/${csvDs}/urls`)).status).toBe(409);
    const put = await send('PUT', `${W}/datasources/${urlDs}/urls`, {
      json: { urls_input: [`${site.url}/b`] },
    });
    expectRefused('DatasourcesService.updateDatasourceUrls', put, 405, /URL list/);
    expect(put.headers.get('allow')).toBe('GET');
    const record = (
      (await send('GET', `${W}/datarecords/by_datasource/${csvDs}`)).body as { id: string }[]
    )[0]!;
    expectRefused(
      'DatarecordsService.updateDatarecord',
      await send('PATCH', `${W}/datarecords/${record.id}`, { json: { title: 'New', event_timestamp: null } }),
      405,
      /does not edit records/,
    );
    expectRefused(
      'DatarecordsService.getDatarecordContent',
      await send('GET', `${W}/datarecords/${record.id}/content`),
      404,
      /datasources\/\{datasource_id\}\/content/,
    );
    const result = ((await send('GET', `${W}/classification_jobs/${job}/results`)).body as ResultRow[])[0]!;
    expectRefused(
      'ClassificationResultsService.retrySingleClassificationResult',
      await send('POST', `${W}/classification_results/${result.id}/retry`),
      409,
      /retry_failures/,
    );
    expectRefused(
      'WorkspacesService.transferDatasourcesEndpoint',
      await send('POST', '/api/v1/workspaces/transfer/datasources', {
        json: {
          source_workspace_id: ws,
          target_workspace_id: ws,
          datasource_ids: [csvDs],
          copy_datasources: true,
        },
      }),
      404,
      /imports/,
    );
    expectRefused(
      'WorkspacesService.importWorkspaceFromTokenEndpoint',
      await send('POST', '/api/v1/workspaces/import_from_token', {
        json: { share_token: 'anything', new_workspace_name: null },
      }),
      404,
      /share_token/,
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
    const inScope = compatibleOperations.size + differingOperations.size + refusedOperations.size;
    console.log(
      `reference client: ${compatibleOperations.size} of ${inScope} operations compatible, ${differingOperations.size} served with a documented difference, ${refusedOperations.size} refused with a problem`,
    );
    expect([compatibleOperations.size, differingOperations.size, refusedOperations.size]).toEqual([65, 3, 9]);
  });
});
