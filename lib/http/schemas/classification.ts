import * as z from 'zod';
import { SchemeDefinition, SchemeField, SchemeUpdate } from '#lib/classify/scheme-definition.ts';
import { Id, listOf, Paging, Timestamp } from './common.ts';
import {
  JOB_CREATE_EXAMPLE,
  JOB_EXAMPLE,
  listExample,
  RESULT_EXAMPLE,
  SCHEME_PUBLIC_EXAMPLE,
} from './examples.ts';

export const SchemePublic = z
  .object({
    id: Id,
    workspace_id: Id,
    name: z.string(),
    description: z.string(),
    model_instructions: z.string().nullable(),
    fields: z.array(SchemeField),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'SchemePublic', example: SCHEME_PUBLIC_EXAMPLE });
export const SchemesPublic = listOf(SchemePublic).meta({
  id: 'SchemesPublic',
  example: listExample(SCHEME_PUBLIC_EXAMPLE),
});
export { SchemeDefinition as SchemeCreate, SchemeUpdate };

export const SchemeParams = z.object({ workspace_id: Id, scheme_id: Id });

const JobOptions = z
  .object({
    temperature: z.number().min(0).max(2).optional(),
    max_records: z.number().int().min(1).max(1_000_000).optional(),
    max_cost_usd: z.number().gt(0).max(1_000_000).optional().meta({
      description:
        'Budget: once the job’s calls cost this much no more are made, the items left fail with the reason, and the job ends budget_exceeded (it may pass it by the calls already in flight). Needs a priced model',
    }),
    max_tokens: z.number().int().min(1).max(1e12).optional().meta({
      description: 'Budget in tokens (input + output), enforced like max_cost_usd',
    }),
    record_id_after: Id.optional().meta({
      description: 'Only records created after this one (ids are UUIDv7, ordered by creation)',
    }),
    record_id_until: Id.optional().meta({
      description: 'Only records up to this one; by default those that exist when the job is created',
    }),
  })
  .strict();

const JobFields = {
  name: z.string().trim().min(1).max(255),
  description: z.string().max(10_000).nullable().optional(),
  provider: z.string().min(1).max(64).optional(),
  model: z.string().min(1).max(200).optional(),
  options: JobOptions.default({}),
  dry_run: z.boolean().optional().meta({
    description: 'Only estimate: answers 200 with the items, tokens and cost, and creates nothing',
  }),
};
const Targets = {
  scheme_ids: z.array(Id).min(1).max(20),
  datasource_ids: z.array(Id).max(1000).optional(),
  record_ids: z.array(Id).max(100_000).optional(),
};

/**
 * `{name, scheme_ids, datasource_ids?, record_ids?, provider?, model?, options?}`; the
 * reference system's `configuration: {scheme_ids, datasource_ids}` wrapper is accepted too.
 */
export const JobCreate = z
  .union([
    z.object({ ...JobFields, ...Targets }).strict(),
    z
      .object({ ...JobFields, configuration: z.object(Targets).loose() })
      .strict()
      .transform(({ configuration, ...rest }) => ({
        ...rest,
        scheme_ids: configuration.scheme_ids,
        datasource_ids: configuration.datasource_ids,
        record_ids: configuration.record_ids,
      })),
  ])
  .meta({ id: 'JobCreate', example: JOB_CREATE_EXAMPLE });

export const JobEstimate = z
  .object({
    items: z
      .number()
      .int()
      .meta({ description: 'Work items: target records (capped by max_records) × schemes' }),
    records: z.number().int(),
    estimated_input_tokens: z.number().int(),
    estimated_output_tokens: z.number().int(),
    estimated_cost_usd: z
      .number()
      .nullable()
      .meta({ description: 'Null when the model has no configured price' }),
    tokenizer: z.enum(['o200k_base', 'chars/4']).meta({
      description:
        'How input tokens were counted: OpenAI’s tokenizer over the real prompts of a sample of records, or about four characters a token',
    }),
  })
  .meta({
    id: 'JobEstimate',
    example: {
      items: 240,
      records: 120,
      estimated_input_tokens: 151_200,
      estimated_output_tokens: 26_400,
      estimated_cost_usd: 0.0385,
      tokenizer: 'o200k_base',
    },
  });

export const Progress = z.object({
  total: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  pending: z.number().int(),
  cancelled: z.number().int(),
});

export const JobUsage = z
  .object({
    calls: z.number().int().meta({ description: 'Billed provider calls: retries and repair turns count' }),
    input_tokens: z.number().int().meta({ description: 'Every input token, the cached ones included' }),
    cached_input_tokens: z
      .number()
      .int()
      .meta({ description: 'Input tokens served from the provider’s cache' }),
    output_tokens: z.number().int(),
    cost_usd: z.number().nullable().meta({
      description: 'At the configured prices when the calls were made; null when the model has no price',
    }),
  })
  .meta({ id: 'JobUsage' });

export const JobPublic = z
  .object({
    id: Id,
    workspace_id: Id,
    name: z.string(),
    description: z.string().nullable(),
    status: z
      .enum([
        'pending',
        'running',
        'completed',
        'completed_with_errors',
        'failed',
        'cancelled',
        'budget_exceeded',
      ])
      .meta({
        description: '`budget_exceeded`: max_cost_usd or max_tokens was reached; the items left say so',
      }),
    scheme_ids: z.array(Id),
    datasource_ids: z.array(Id),
    record_ids: z.array(Id),
    provider: z.string(),
    model: z.string(),
    options: z.record(z.string(), z.unknown()),
    error_message: z.string().nullable(),
    progress: Progress,
    usage: JobUsage,
    created_at: Timestamp,
    updated_at: Timestamp,
    finished_at: Timestamp.nullable(),
    planned: z.boolean().meta({
      description:
        'Every work item exists: progress.total grows while the job is planned in chunks and is final once this is true',
    }),
  })
  .meta({ id: 'JobPublic', example: JOB_EXAMPLE });
export const JobsPublic = listOf(JobPublic).meta({ id: 'JobsPublic', example: listExample(JOB_EXAMPLE) });

export const JobParams = z.object({ workspace_id: Id, job_id: Id });

export const JobFailures = z
  .object({
    data: z.array(z.object({ record_id: Id, scheme_id: Id, reason: z.string(), attempts: z.number().int() })),
    count: z.number().int(),
  })
  .meta({ id: 'JobFailures' });

export const ResultPublic = z
  .object({
    id: Id,
    job_id: Id,
    record_id: Id,
    scheme_id: Id,
    datasource_id: Id,
    value: z.record(z.string(), z.unknown()),
    justifications: z.record(z.string(), z.unknown()),
    provider: z.string(),
    model: z.string(),
    created_at: Timestamp,
  })
  .meta({ id: 'ResultPublic', example: RESULT_EXAMPLE });
export const ResultsPublic = listOf(ResultPublic).meta({
  id: 'ResultsPublic',
  example: listExample(RESULT_EXAMPLE),
});

export const ResultsQuery = Paging.extend({
  job_id: Id.optional(),
  scheme_id: Id.optional(),
  datasource_id: Id.optional(),
  record_id: Id.optional(),
  field: z.string().min(1).max(64).optional().meta({ description: 'A field of the value to filter on' }),
  label: z
    .string()
    .min(1)
    .max(500)
    .optional()
    .meta({ description: 'With field: results whose field is or contains this label' }),
  min: z.coerce.number().optional().meta({ description: 'With field: the field is a number ≥ min' }),
  max: z.coerce.number().optional().meta({ description: 'With field: the field is a number ≤ max' }),
}).refine(
  (q) => q.field !== undefined || (q.label === undefined && q.min === undefined && q.max === undefined),
  {
    message: 'label, min and max filter the value of a field: give field too',
    path: ['field'],
  },
);

export const ResultParams = z.object({ workspace_id: Id, result_id: Id });

export const ExportQuery = z.object({
  format: z.enum(['csv', 'jsonl', 'json']).default('csv'),
  include_text: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
});

export const JobSummary = z
  .object({
    job_id: Id,
    schemes: z.array(
      z.object({
        scheme_id: Id,
        name: z.string(),
        results: z.number().int(),
        fields: z.array(z.record(z.string(), z.unknown())),
      }),
    ),
  })
  .meta({ id: 'JobSummary' });

export const ProvidersList = z
  .object({
    data: z.array(z.object({ name: z.string(), models: z.array(z.string()), default: z.boolean() })),
    default_provider: z.string().nullable(),
    default_model: z.string().nullable(),
  })
  .meta({ id: 'ProvidersList' });
