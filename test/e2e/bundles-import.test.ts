import { readdir } from 'node:fs/promises';
import nodePath from 'node:path';
import { zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importKey } from '#lib/bundles/keys.ts';
import { platform } from '#lib/platform.ts';
import { SUPERUSER, startTestApp, TEST_SECRET_KEY, type TestApp } from '#test/support/app.ts';
import { importBundle, jsonl, makeBundle, waitFor } from '#test/support/bundles.ts';

const MAX_BYTES = 1_000_000;
let app: TestApp;
let token: string;
let ws: string;

const path = (rest: string) => `/api/v1/workspaces/${ws}/${rest}`;

const scheme = {
  id: 's1',
  name: 'Tone',
  description: '',
  model_instructions: null,
  fields: [{ name: 'intensity', description: '1..5', type: 'int', scale_min: 1, scale_max: 5 }],
};
const datasource = {
  id: 'd1',
  name: 'Texts',
  type: 'text_block',
  options: {},
  status: 'complete',
  metadata: {},
};
const record = (id: string, text: string) => ({
  id,
  source_key: `k-${id}`,
  title: null,
  text_content: text,
  source_metadata: {},
  event_timestamp: null,
  appended: false,
});
const job = {
  id: 'j1',
  name: 'Run',
  description: null,
  status: 'completed',
  scheme_ids: ['s1'],
  datasource_ids: ['d1'],
  provider: 'openai',
  model: 'm',
  options: {},
  error_message: null,
};
const result = (id: string, recordId: string) => ({
  id,
  record_id: recordId,
  scheme_id: 's1',
  value: { intensity: 3 },
  justifications: {},
  provider: 'openai',
  model: 'm',
});

/** A valid bundle's entries, to break one thing at a time. */
const valid = (): [string, string | Uint8Array][] => [
  ['schemes.jsonl', jsonl([scheme])],
  ['datasources.jsonl', jsonl([datasource])],
  ['records/d1.jsonl', jsonl([record('r1', 'One'), record('r2', 'Two')])],
  ['jobs.jsonl', jsonl([job])],
  ['results/j1.jsonl', jsonl([result('x1', 'r1'), result('x2', 'r2')])],
];

/** Everything the workspace holds: a hostile import must leave it exactly so. */
async function snapshot() {
  const db = await app.db();
  const count = async (
    table:
      | 'datasources'
      | 'records'
      | 'classification_schemes'
      | 'classification_jobs'
      | 'classification_results',
  ) =>
    (
      await db
        .selectFrom(table)
        .select(db.fn.countAll<string>().as('n'))
        .where('workspace_id', '=', ws)
        .executeTakeFirstOrThrow()
    ).n;
  return {
    datasources: await count('datasources'),
    records: await count('records'),
    schemes: await count('classification_schemes'),
    jobs: await count('classification_jobs'),
    results: await count('classification_results'),
    files: (
      await readdir(nodePath.join(app.dataDir, 'objects', 'workspaces', ws, 'datasources'), {
        recursive: true,
      }).catch(() => [])
    ).filter((f) => /\.(csv|pdf)$/.test(String(f))).length,
  };
}

beforeAll(async () => {
  app = await startTestApp({
    MAX_UPLOAD_BYTES: String(MAX_BYTES),
    BUNDLE_MAX_UNCOMPRESSED_BYTES: String(50 * 1024 * 1024),
  });
  const admin = await app.api.login(SUPERUSER.email, SUPERUSER.password);
  token = (await app.api.newUser(admin)).token;
  ws = (await app.api.post('/api/v1/workspaces', { token, json: { name: 'Imports' } })).body.id;
  // Something to keep: the workspace is not empty when the hostile bundles arrive.
  const base = await importBundle(app.api, token, ws, makeBundle(valid(), { key: TEST_SECRET_KEY }));
  expect(base.status, base.error_message).toBe('complete');
  expect(base.signature).toBe('verified');
});
afterAll(async () => {
  await app?.stop();
});

const zeros = new Uint8Array(64 * 1024 * 1024);
const withFile = (): [string, string | Uint8Array][] => [
  ['schemes.jsonl', jsonl([scheme])],
  ['datasources.jsonl', jsonl([{ ...datasource, type: 'csv', file: 'a.csv' }])],
  ['records/d1.jsonl', jsonl([record('r1', 'One')])],
  ['files/d1/a.csv', 'a,b\n1,2\n'],
  ['jobs.jsonl', jsonl([job])],
  ['results/j1.jsonl', jsonl([result('x1', 'r1'), result('x2', 'r-missing')])],
];

/** Hostile bundles: each fails with its reason and leaves the workspace unchanged. */
const HOSTILE: [string, () => Uint8Array, RegExp][] = [
  [
    'not an archive',
    () => Buffer.from('\x00\x01garbage that is no bundle'),
    /not a ZIP archive or a JSON export/,
  ],
  [
    'a malformed archive',
    () => Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(200, 7)]),
    /malformed|no manifest|truncated/,
  ],
  ['a truncated archive', () => makeBundle(valid()).subarray(0, 300), /malformed|truncated|no manifest/],
  ['malformed JSON', () => Buffer.from('{"meta": {"export_type": '), /malformed/],
  ['a path traversal entry', () => makeBundle([...valid(), ['../../etc/evil.jsonl', 'x']]), /path traversal/],
  ['an absolute entry path', () => makeBundle([['/tmp/evil', 'x'], ...valid()]), /path traversal/],
  ['a zip bomb', () => makeBundle([['schemes.jsonl', zeros], ...valid().slice(1)]), /zip bomb/],
  ['a wrong version', () => makeBundle(valid(), { manifest: { version: 2 } }), /version 2 is not supported/],
  [
    'a foreign format',
    () => makeBundle(valid(), { manifest: { format: 'other' } }),
    /format is not docsift-bundle/,
  ],
  [
    'a checksum mismatch',
    () => {
      const bundle = makeBundle(valid());
      const entries = valid();
      entries[2] = ['records/d1.jsonl', jsonl([record('r1', 'One'), record('r2', 'Tampered')])];
      // The manifest of the honest bundle over the tampered entry.
      const { unzipSync } = require('fflate') as typeof import('fflate');
      const files = unzipSync(bundle);
      files['records/d1.jsonl'] = Buffer.from(entries[2][1] as string);
      return zipSync(files);
    },
    /Checksum mismatch for records\/d1\.jsonl/,
  ],
  ['no manifest', () => makeBundle(valid(), { omitManifest: true }), /no manifest\.json/],
  [
    'an entry the manifest does not list',
    () => makeBundle(valid(), { manifest: { entries: [] } }),
    /does not list/,
  ],
  [
    'a result whose record is missing (after rows and a file went in)',
    () => makeBundle(withFile()),
    /record r-missing is not in the bundle \(missing reference\)/,
  ],
  [
    'a job whose scheme is missing',
    () => makeBundle(valid().filter(([p]) => p !== 'schemes.jsonl')),
    /scheme s1 is not in the bundle \(missing reference\)/,
  ],
  [
    'text Postgres cannot store',
    () =>
      makeBundle([valid()[0]!, valid()[1]!, ['records/d1.jsonl', jsonl([record('r1', 'nul \u0000 here')])]]),
    /records\/d1\.jsonl line 1: text_content/,
  ],
  [
    'an invalid scheme',
    () => makeBundle([['schemes.jsonl', jsonl([{ ...scheme, fields: [{ name: 'x', type: 'nope' }] }])]]),
    /schemes\.jsonl line 1: scheme "Tone": fields\.0/,
  ],
  [
    'a duplicate record key',
    () =>
      makeBundle([
        valid()[1]!,
        ['records/d1.jsonl', jsonl([record('r1', 'One'), { ...record('r2', 'Two'), source_key: 'k-r1' }])],
      ]),
    /refuses/,
  ],
];

describe('hostile bundles fail with a reason and leave the workspace unchanged', () => {
  for (const [name, make, reason] of HOSTILE) {
    it(name, async () => {
      const before = await snapshot();
      const done = await importBundle(app.api, token, ws, make());
      expect(done.status).toBe('failed');
      expect(done.error_message).toMatch(reason);
      expect(await snapshot()).toEqual(before);
    });
  }

  it('an oversized bundle (S3 does not check a form’s policy everywhere: the worker does)', async () => {
    const before = await snapshot();
    const res = await app.api.post(path('imports'), { token, json: {} });
    expect(res.body.upload.max_bytes).toBe(MAX_BYTES);
    // Stored straight at the import's key, as an emulator that ignores the policy would.
    await platform().objects.put(
      importKey(ws, res.body.id),
      Buffer.concat([makeBundle(valid()), Buffer.alloc(MAX_BYTES)]),
    );
    const done = await waitFor(app.api, token, path(`imports/${res.body.id}`));
    expect(done).toMatchObject({ status: 'failed' });
    expect(done.error_message).toMatch(/at most 1000000 are accepted \(oversized\)/);
    expect(await snapshot()).toEqual(before);
  });

  it('an oversized bundle sent with the request is a 413, and the upload form refuses it too', async () => {
    const form = new FormData();
    form.append('file', new Blob([new Uint8Array(MAX_BYTES + 1)]), 'big.zip');
    const res = await fetch(`${app.url}${path('imports')}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
    });
    expect(res.status).toBe(413);
  });

  it('a manifest signed with another key imports, reported invalid; an unsigned one unverified', async () => {
    const other = await importBundle(
      app.api,
      token,
      ws,
      makeBundle(valid(), { key: 'another-instance-key-0123456789abcdef' }),
    );
    expect(other).toMatchObject({ status: 'complete', signature: 'invalid' });
    const unsigned = await importBundle(app.api, token, ws, makeBundle(valid()));
    expect(unsigned).toMatchObject({ status: 'complete', signature: 'unverified' });
  });

  it('an upload to a finished import’s form is refused', async () => {
    const res = await app.api.post(path('imports'), { token, json: {} });
    const { sendUpload } = await import('#test/support/ingest.ts');
    expect((await sendUpload(res.body.upload, makeBundle(valid()))).status).toBeLessThan(300);
    await waitFor(app.api, token, path(`imports/${res.body.id}`));
    expect((await sendUpload(res.body.upload, makeBundle(valid()))).status).toBe(409);
  });
});

describe('the reference system’s JSON exports', () => {
  const refScheme = {
    meta: {
      export_type: 'scheme',
      export_version: '1.0',
      export_date: '2024-01-01T00:00:00',
      export_id: 'e',
      original_id: 3,
    },
    scheme: {
      name: 'Sentiment',
      description: 'How positive',
      model_instructions: null,
      validation_rules: null,
      fields: [
        {
          name: 'score',
          description: 'Score',
          type: 'int',
          scale_min: 1,
          scale_max: 10,
          is_set_of_labels: false,
          labels: null,
          dict_keys: null,
          is_time_axis_hint: false,
        },
        {
          name: 'actors',
          description: 'Who',
          type: 'List[Dict[str, any]]',
          scale_min: null,
          scale_max: null,
          is_set_of_labels: false,
          labels: null,
          dict_keys: [{ name: 'name', type: 'str' }],
          is_time_axis_hint: null,
        },
      ],
    },
  };
  const refDatasource = {
    meta: {
      export_type: 'datasource',
      export_version: '1.0',
      export_date: '2024-01-01',
      export_id: 'e',
      original_id: 12,
    },
    datasource: {
      name: 'News',
      type: 'url_list',
      description: null,
      origin_details: { urls: ['https://a.example'] },
      source_metadata: {},
    },
    records: [
      {
        text_content: 'First',
        source_metadata: { title: 'A' },
        event_timestamp: '2024-05-01T10:00:00Z',
        url_hash: 'abc',
      },
      { text_content: 'Second', source_metadata: {}, event_timestamp: null, url_hash: null },
    ],
    results: [{ record_index: 0, scheme_id: 3, job_id: 7, value: { score: 4 }, timestamp: '2024-01-01' }],
  };
  const refWorkspace = {
    name: 'Old',
    description: 'From the reference',
    icon: null,
    created_at: '2024-01-01',
    updated_at: '2024-01-01',
    datasources: [
      {
        name: 'PDFs',
        description: null,
        type: 'bulk_pdf',
        origin_details: {},
        source_metadata: {},
        created_at: '2024-01-01',
      },
    ],
    classification_schemes: [refScheme.scheme],
    classification_jobs: [
      {
        name: 'J',
        description: null,
        configuration: { scheme_ids: [3], datasource_ids: [12] },
        status: 'completed',
        created_at: '2024-01-01',
      },
    ],
  };

  async function importDocument(document: unknown) {
    const res = await app.api.post(path('imports'), { token, json: { document } });
    expect(res.status, res.text).toBe(201);
    return waitFor(app.api, token, path(`imports/${res.body.id}`));
  }

  it('a scheme export (sent as JSON): nulls and the time-axis hint dropped', async () => {
    const done = await importDocument(refScheme);
    expect(done, done.error_message).toMatchObject({
      status: 'complete',
      format: 'reference-json',
      bundle_type: 'scheme',
    });
    expect(done.counts).toMatchObject({ schemes: 1 });
  });

  it('a datasource export with records (uploaded): positional results cannot be remapped and are counted skipped', async () => {
    const done = await importBundle(app.api, token, ws, Buffer.from(JSON.stringify(refDatasource)));
    expect(done, done.error_message).toMatchObject({
      status: 'complete',
      bundle_type: 'datasource',
      signature: 'unverified',
    });
    expect(done.counts).toMatchObject({ datasources: 1, records: 2, skipped_results: 1 });
    const ds = (await app.api.get(path('datasources?limit=100'), { token })).body.data.find(
      (d: any) => d.name === 'News',
    );
    expect(ds).toMatchObject({ type: 'url_list', record_count: 2, status: 'complete' });
  });

  it('a workspace export: datasources and schemes (reused when identical), jobs skipped', async () => {
    const done = await importDocument(refWorkspace);
    expect(done, done.error_message).toMatchObject({ status: 'complete', bundle_type: 'workspace' });
    expect(done.counts).toMatchObject({ datasources: 1, schemes: 0, schemes_reused: 1, skipped_jobs: 1 });
  });

  it('a job export is refused with the reason', async () => {
    const jobDone = await importDocument({ meta: { export_type: 'job' }, job: {}, results: [] });
    expect(jobDone.error_message).toMatch(/import its workspace instead/);
  });

  // A dataset export as REFERENCE-FORMATS.md describes it: no meta, no ids, results naming the
  // old instance's scheme id.
  const refDataset = {
    name: 'Health debate',
    description: 'Speeches about hospitals',
    custom_metadata: { curator: 'ana' },
    created_at: '2024-01-01T00:00:00Z',
    updated_at: '2024-01-02T00:00:00Z',
    datarecords: [
      {
        source_metadata: { title: 'Speech 1' },
        event_timestamp: '2024-05-01T10:00:00Z',
        url_hash: 'h1',
        content_hash: 'a'.repeat(64),
        text_content: 'Hospitals need money.',
        classification_results: [{ scheme_id: 3, value: { topics: ['Health'] }, timestamp: '2024-01-01' }],
      },
      {
        source_metadata: {},
        event_timestamp: null,
        url_hash: null,
        content_hash: 'b'.repeat(64),
        text_content: 'Clinics report long queues.',
        classification_results: [
          { scheme_id: 3, value: { topics: ['Health', 'Economy'] }, timestamp: '2024-01-01' },
        ],
      },
      {
        source_metadata: {},
        event_timestamp: null,
        url_hash: null,
        content_hash: 'c'.repeat(64),
        text_content: 'Unrelated.',
        classification_results: [],
      },
    ],
    source_jobs: [
      {
        name: 'Old run',
        description: null,
        configuration: { scheme_ids: [3], datasource_ids: [12] },
        status: 'completed',
        created_at: '2024-01-01',
      },
    ],
    source_schemes: [
      {
        name: 'Topics',
        description: 'Policy areas',
        model_instructions: null,
        validation_rules: null,
        fields: [
          {
            name: 'topics',
            description: 'Areas',
            type: 'List[str]',
            scale_min: null,
            scale_max: null,
            is_set_of_labels: true,
            labels: ['Health', 'Economy'],
            dict_keys: null,
            is_time_axis_hint: false,
          },
        ],
      },
    ],
  };

  it('a dataset export (uploaded): its records in one new source, its scheme, its results under one job, its members; source jobs skipped with the reason', async () => {
    const done = await importBundle(app.api, token, ws, Buffer.from(JSON.stringify(refDataset)));
    expect(done, done.error_message).toMatchObject({
      status: 'complete',
      format: 'reference-json',
      bundle_type: 'dataset',
      signature: 'unverified',
    });
    expect(done.counts).toMatchObject({
      datasources: 1,
      records: 3,
      schemes: 1,
      jobs: 1,
      results: 2,
      datasets: 1,
      members: 3,
      skipped_jobs: 1,
    });
    expect(done.skipped).toEqual([{ kind: 'jobs', count: 1, reason: expect.stringMatching(/old instance/) }]);
    const dataset = (await app.api.get(path('datasets?limit=100'), { token })).body.data.find(
      (d: any) => d.name === 'Health debate',
    );
    expect(dataset).toMatchObject({
      description: 'Speeches about hospitals',
      custom_metadata: { curator: 'ana' },
      member_count: 3,
    });
    expect(dataset.scheme_ids).toHaveLength(1);
    expect(dataset.job_ids).toHaveLength(1);
    const results = (
      await app.api.get(path(`classification_results?job_id=${dataset.job_ids[0]}&limit=100`), { token })
    ).body.data;
    expect(
      results.map((r: any) => r.value).sort((a: any, b: any) => a.topics.length - b.topics.length),
    ).toEqual([{ topics: ['Health'] }, { topics: ['Health', 'Economy'] }]);
  });

  it('a dataset export whose results name a scheme the file does not identify: those results skipped with the reason', async () => {
    const twoSchemes = {
      ...refDataset,
      name: 'Ambiguous',
      source_jobs: [],
      source_schemes: [
        ...refDataset.source_schemes,
        { ...refDataset.source_schemes[0]!, name: 'Other', model_instructions: 'Different.' },
      ],
    };
    const done = await importDocument(twoSchemes);
    expect(done.status, done.error_message).toBe('complete');
    expect(done.counts).toMatchObject({ records: 3, members: 3, results: 0, jobs: 0, skipped_results: 2 });
    expect(done.skipped).toEqual([
      {
        kind: 'results',
        count: 2,
        reason: expect.stringMatching(/scheme_id names a scheme of the old instance/),
      },
    ]);
    const dataset = (await app.api.get(path('datasets?limit=100'), { token })).body.data.find(
      (d: any) => d.name === 'Ambiguous',
    );
    expect(dataset).toMatchObject({ member_count: 3, job_ids: [] });
    expect(dataset.scheme_ids).toHaveLength(2);
  });
});
