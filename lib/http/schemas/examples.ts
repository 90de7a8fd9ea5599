/**
 * Examples for the API document (Swagger UI shows them instead of values generated from the
 * schemas: integers of -9007199254740991, random strings). They tell one story — a CSV of
 * parliamentary speeches, classified by one scheme — so ids match across them. Each is checked
 * against its schema (lib/http/schemas/examples.test.ts and the OpenAPI lint).
 */
import { SCHEME_EXAMPLE } from '#lib/classify/scheme-definition.ts';

const ID = {
  workspace: '01938a6e-1c2d-7a00-8a11-000000000001',
  datasource: '01938a6e-2d3e-7b00-9b22-000000000002',
  record: '01938a6e-3e4f-7c00-ac33-000000000003',
  scheme: '01938a6e-4f50-7d00-bd44-000000000004',
  job: '01938a6e-5061-7e00-8e55-000000000005',
  result: '01938a6e-6172-7f00-9f66-000000000006',
};
const OWNER = '01938a6e-0b1c-7900-8900-000000000000';
const CREATED = '2026-12-02T09:30:00.000Z';
const FINISHED = '2026-12-02T09:31:12.000Z';

/** The six ways to create a datasource, each as a client sends it. */
export const DATASOURCE_CREATE_EXAMPLES = {
  text_block: {
    name: 'Press release',
    type: 'text_block',
    options: { text: 'The committee approved the budget with 12 votes to 3.' },
  },
  url: { name: 'One article', type: 'url', options: { url: 'https://example.com/news/budget-vote' } },
  url_list: {
    name: 'News',
    type: 'url_list',
    options: { urls: ['https://example.com/news/budget-vote', 'https://example.com/news/tax-reform'] },
  },
  csv: {
    name: 'Speeches 2026',
    type: 'csv',
    options: {
      delimiter: ',',
      text_columns: ['speech'],
      title_column: 'speaker',
      event_timestamp_column: 'date',
    },
  },
  pdf: { name: 'Annual report', type: 'pdf', options: { split: 'page' } },
  bulk_pdf: {
    name: 'Committee reports',
    type: 'bulk_pdf',
    options: { filenames: ['report-2025.pdf', 'report-2026.pdf'], split: 'document' },
  },
} as const;

/** A CSV datasource just created: waiting for its file at the presigned upload. */
export const DATASOURCE_EXAMPLE = {
  id: ID.datasource,
  workspace_id: ID.workspace,
  name: 'Speeches 2026',
  type: 'csv',
  options: DATASOURCE_CREATE_EXAMPLES.csv.options,
  status: 'awaiting_upload',
  error_message: null,
  metadata: {},
  record_count: 0,
  search_status: 'ready',
  description: null,
  user_id: OWNER,
  origin_details: DATASOURCE_CREATE_EXAMPLES.csv.options,
  source_metadata: {},
  data_record_count: 0,
  created_at: CREATED,
  updated_at: CREATED,
  upload: {
    method: 'POST',
    url: 'https://docsift-uploads.s3.eu-central-1.amazonaws.com/',
    fields: {
      key: `workspaces/${ID.workspace}/uploads/3f1c/speeches.csv`,
      'Content-Type': 'text/csv',
      Policy: 'eyJleHBpcmF0aW9uIjoi…',
      'X-Amz-Signature': '6c1f…',
    },
    expires_at: '2026-12-02T10:30:00.000Z',
    max_bytes: 104857600,
  },
};

export const SCHEME_PUBLIC_EXAMPLE = {
  id: ID.scheme,
  workspace_id: ID.workspace,
  ...SCHEME_EXAMPLE,
  validation_rules: null,
  user_id: OWNER,
  classification_count: 238,
  job_count: 1,
  created_at: CREATED,
  updated_at: CREATED,
};

export const JOB_CREATE_EXAMPLE = {
  name: 'Speeches: topics and tone',
  scheme_ids: [ID.scheme],
  datasource_ids: [ID.datasource],
  provider: 'openai',
  model: 'gpt-4o-mini',
  options: { temperature: 0 },
};

/** A job that has finished, one item failed. */
export const JOB_EXAMPLE = {
  id: ID.job,
  workspace_id: ID.workspace,
  name: JOB_CREATE_EXAMPLE.name,
  description: null,
  status: 'completed_with_errors',
  scheme_ids: [ID.scheme],
  datasource_ids: [ID.datasource],
  record_ids: [],
  provider: 'openai',
  model: 'gpt-4o-mini',
  mode: 'online',
  options: { temperature: 0 },
  error_message: null,
  progress: { total: 120, succeeded: 119, failed: 1, pending: 0, cancelled: 0 },
  usage: {
    calls: 121,
    input_tokens: 96_800,
    cached_input_tokens: 41_200,
    output_tokens: 14_520,
    cost_usd: 0.0209,
  },
  created_at: CREATED,
  updated_at: FINISHED,
  finished_at: FINISHED,
  planned: true,
  user_id: OWNER,
  configuration: {
    scheme_ids: [ID.scheme],
    datasource_ids: [ID.datasource],
    record_ids: [],
    llm_provider: 'openai',
    llm_model: 'gpt-4o-mini',
  },
  target_scheme_ids: [ID.scheme],
  target_datasource_ids: [ID.datasource],
  result_count: 119,
  datarecord_count: 120,
};

/** One record's answer to the example scheme, with the justification its `topics` field asks for. */
const RESULT_VALUE = {
  topics: ['economy', 'taxes'],
  stance: 'against',
  intensity: 4,
  confidence: 0.82,
  mentions_vote: true,
  summary: 'The speaker rejects the tax reform as unfair to small businesses.',
  named_people: [{ name: 'Anna Berg', role: 'finance minister', quoted: true }],
};

export const RESULT_EXAMPLE = {
  id: ID.result,
  job_id: ID.job,
  record_id: ID.record,
  scheme_id: ID.scheme,
  datasource_id: ID.datasource,
  value: RESULT_VALUE,
  justifications: {
    topics: {
      reasoning: 'The speech is about the tax reform and its cost to businesses.',
      evidence: [{ quote: 'this reform taxes the small businesses', verified: true }],
    },
  },
  provider: 'openai',
  model: 'gpt-4o-mini',
  created_at: FINISHED,
  datarecord_id: ID.record,
  timestamp: FINISHED,
  display_value: RESULT_VALUE,
};

/** The list envelope around one example item. */
export function listExample<T>(item: T) {
  return { data: [item], count: 1, next_cursor: null };
}
