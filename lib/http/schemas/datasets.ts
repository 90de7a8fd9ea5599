import * as z from 'zod';
import { ExportQuery, ResultPublic } from './classification.ts';
import { Id, listOf, Paging, Timestamp } from './common.ts';
import { RecordPublic } from './datasources.ts';

/** Record ids in one request: explicit lists stay small; filters add more (up to their cap). */
export const MAX_IDS_PER_REQUEST = 10_000;

const Name = z.string().trim().min(1).max(255);
const Description = z.string().max(10_000).nullable();
const Metadata = z.record(z.string(), z.unknown()).meta({ description: 'Any JSON object of yours' });
const RecordIds = z.array(Id).min(1).max(MAX_IDS_PER_REQUEST);
const SourceIds = z.array(Id).max(100);

export const DatasetPublic = z
  .object({
    id: Id,
    workspace_id: Id,
    name: z.string(),
    description: z.string().nullable(),
    custom_metadata: z.record(z.string(), z.unknown()),
    scheme_ids: z.array(Id),
    job_ids: z.array(Id),
    member_count: z.number().int(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'DatasetPublic' });
export const DatasetsPublic = listOf(DatasetPublic).meta({ id: 'DatasetsPublic' });

export const DatasetParams = z.object({ workspace_id: Id, dataset_id: Id });

/** The results list's filter, applied once: members are the records of the matching results. */
export const ResultsFilter = z
  .object({
    job_id: Id.optional(),
    scheme_id: Id.optional(),
    datasource_id: Id.optional(),
    field: z.string().min(1).max(64).optional(),
    label: z.string().min(1).max(500).optional(),
    min: z.number().optional(),
    max: z.number().optional(),
  })
  .strict()
  .refine(
    (f) => f.field !== undefined || (f.label === undefined && f.min === undefined && f.max === undefined),
    { message: 'label, min and max filter the value of a field: give field too', path: ['field'] },
  );
export type ResultsFilter = z.output<typeof ResultsFilter>;

export const DatasetCreate = z
  .object({
    name: Name,
    description: Description.optional(),
    custom_metadata: Metadata.default({}),
    record_ids: RecordIds.optional().meta({ description: 'Initial members' }),
    results_filter: ResultsFilter.optional().meta({
      description:
        'Initial members: the records of matching results, as POST …/members takes it (the job and scheme join the sources)',
    }),
    scheme_ids: SourceIds.optional().meta({ description: 'Schemes whose results the dataset carries' }),
    job_ids: SourceIds.optional().meta({ description: 'Jobs whose results the dataset carries' }),
  })
  .refine((b) => !(b.record_ids && b.results_filter), {
    message: 'Give record_ids or results_filter, not both',
    path: ['results_filter'],
  })
  .meta({ id: 'DatasetCreate' });
export type DatasetCreate = z.output<typeof DatasetCreate>;

export const DatasetUpdate = z
  .object({
    name: Name.optional(),
    description: Description.optional(),
    custom_metadata: Metadata.optional(),
    scheme_ids: SourceIds.optional().meta({ description: 'Replaces the dataset’s schemes' }),
    job_ids: SourceIds.optional().meta({ description: 'Replaces the dataset’s jobs' }),
  })
  .meta({ id: 'DatasetUpdate' });
export type DatasetUpdate = z.output<typeof DatasetUpdate>;

/** The records list's filter, applied once. */
export const RecordsFilter = z
  .object({
    datasource_id: Id.optional(),
    q: z.string().trim().min(1).max(500).optional(),
    event_time_from: z.iso.datetime({ offset: true }).optional(),
    event_time_to: z.iso.datetime({ offset: true }).optional(),
  })
  .strict();
export type RecordsFilter = z.output<typeof RecordsFilter>;

export const MembersAdd = z
  .object({
    record_ids: RecordIds.optional(),
    results_filter: ResultsFilter.optional().meta({
      description: 'Records with a matching result; the job and scheme join the dataset’s sources',
    }),
    records_filter: RecordsFilter.optional(),
  })
  .refine(
    (b) => [b.record_ids, b.results_filter, b.records_filter].filter((v) => v !== undefined).length === 1,
    { message: 'Give exactly one of record_ids, results_filter and records_filter', path: ['record_ids'] },
  )
  .meta({ id: 'MembersAdd' });
export type MembersAdd = z.output<typeof MembersAdd>;

export const MembersAdded = z
  .object({
    added: z.number().int(),
    already_present: z.number().int(),
    member_count: z.number().int(),
  })
  .meta({ id: 'MembersAdded' });

export const MembersRemove = z.object({ record_ids: RecordIds }).meta({ id: 'MembersRemove' });

export const MembersRemoved = z
  .object({ removed: z.number().int(), member_count: z.number().int() })
  .meta({ id: 'MembersRemoved' });

export const MembersQuery = Paging.extend({
  scheme_ids: z
    .string()
    .transform((s) => s.split(',').filter((id) => id !== ''))
    .pipe(z.array(Id).max(20))
    .optional()
    .meta({ description: 'Comma-separated scheme ids: each member carries its results for these' }),
});

export const MemberPublic = RecordPublic.extend({
  added_at: Timestamp,
  results: z.array(ResultPublic).optional(),
}).meta({ id: 'MemberPublic' });
export const MembersPublic = listOf(MemberPublic).meta({ id: 'MembersPublic' });

export { ExportQuery as DatasetExportQuery };
