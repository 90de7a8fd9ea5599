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
    validation_rules: z
      .record(z.string(), z.unknown())
      .nullable()
      .meta({ description: 'Kept for the reference system’s clients: stored and returned, not applied' }),
    user_id: Id.nullable().meta({ description: 'Who created it: the workspace’s owner' }),
    classification_count: z.number().int().meta({ description: 'Results over this scheme' }),
    job_count: z.number().int().meta({ description: 'Jobs that classify with this scheme' }),
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
    combine_schemes: z.boolean().optional().meta({
      description:
        'With several schemes: true (the default) sends a record once, asking for its schemes in one call wherever their combined answer fits the providers’ structured-output limits (fewer input tokens per result); false makes one call per record and scheme. Results are one per record and scheme either way',
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
  mode: z.enum(['online', 'batch']).optional().meta({
    description:
      'online (the default): each record is classified as its turn comes. batch: through the provider’s batch API, at half the price, with answers within 24 hours (OpenAI, and Bedrock batch inference where the server has it, for batches of 100 requests or more: fewer go online; a budget must hold the estimate, since a batch cannot stop half-way)',
  }),
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
 * The reference system's `configuration` wrapper: the targets, and the provider and model as
 * `llm_provider`/`llm_model` (null: the default). Strict: a key it does not know is named, not
 * dropped.
 */
const ReferenceConfiguration = z
  .object({
    ...Targets,
    llm_provider: z.string().min(1).max(64).nullish(),
    llm_model: z.string().min(1).max(200).nullish(),
  })
  .strict();

/**
 * `{name, scheme_ids, datasource_ids?, record_ids?, provider?, model?, options?}`; the
 * reference system's `configuration: {scheme_ids, datasource_ids, llm_provider?, llm_model?}`
 * wrapper is accepted too.
 */
export const JobCreate = z
  .union([
    z.object({ ...JobFields, ...Targets }).strict(),
    z
      .object({ ...JobFields, configuration: ReferenceConfiguration })
      .strict()
      .transform(({ configuration, ...rest }) => ({
        ...rest,
        scheme_ids: configuration.scheme_ids,
        datasource_ids: configuration.datasource_ids,
        record_ids: configuration.record_ids,
        provider: rest.provider ?? configuration.llm_provider ?? undefined,
        model: rest.model ?? configuration.llm_model ?? undefined,
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
    mode: z.enum(['online', 'batch']),
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
    user_id: Id.nullable().meta({ description: 'Who created it: the workspace’s owner' }),
    configuration: z
      .object({
        scheme_ids: z.array(Id),
        datasource_ids: z.array(Id),
        record_ids: z.array(Id),
        llm_provider: z.string(),
        llm_model: z.string(),
      })
      .meta({ description: 'The targets, provider and model as the reference system’s clients read them' }),
    target_scheme_ids: z.array(Id).meta({ description: 'The reference system’s name for scheme_ids' }),
    target_datasource_ids: z
      .array(Id)
      .meta({ description: 'The reference system’s name for datasource_ids' }),
    result_count: z.number().int().meta({ description: 'Results stored so far' }),
    datarecord_count: z
      .number()
      .int()
      .meta({ description: 'Records the job covers so far (final once planned)' }),
  })
  .meta({ id: 'JobPublic', example: JOB_EXAMPLE });
export const JobsPublic = listOf(JobPublic).meta({ id: 'JobsPublic', example: listExample(JOB_EXAMPLE) });

export const JobParams = z.object({ workspace_id: Id, job_id: Id });

/**
 * A job's name and description; `status: cancelled` asks to cancel it. The reference system's
 * client sends `status` and `error_message` (null when unused) to stop a job; docsift sets every
 * other status itself.
 */
export const JobUpdate = z
  .object({
    name: z.string().trim().min(1).max(255).nullish(),
    description: z.string().max(10_000).nullish(),
    status: z.string().nullish(),
    error_message: z.string().nullish(),
  })
  .strict()
  .meta({ id: 'JobUpdate' });

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
    datarecord_id: Id.meta({ description: 'The reference system’s name for record_id' }),
    timestamp: Timestamp.meta({ description: 'The reference system’s name for created_at' }),
    display_value: z.unknown().meta({
      description: 'The value to show: the one field’s value of a single-field scheme, else the whole value',
    }),
  })
  .meta({ id: 'ResultPublic', example: RESULT_EXAMPLE });
export const ResultsPublic = listOf(ResultPublic).meta({
  id: 'ResultsPublic',
  example: listExample(RESULT_EXAMPLE),
});

/** Ids as a query carries several: repeated (`a=1&a=2`, joined by commas on the way) or comma-separated. */
const IdList = z
  .string()
  .transform((v) => v.split(',').filter(Boolean))
  .pipe(z.array(Id).min(1).max(1000));

export const ResultsQuery = Paging.extend({
  job_id: Id.optional(),
  scheme_id: Id.optional(),
  datasource_id: Id.optional(),
  record_id: Id.optional(),
  datarecord_ids: IdList.optional().meta({
    description: 'Results of any of these records (repeat or comma-separate)',
  }),
  scheme_ids: IdList.optional().meta({
    description: 'Results of any of these schemes (repeat or comma-separate)',
  }),
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
