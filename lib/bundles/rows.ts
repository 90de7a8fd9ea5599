import * as z from 'zod';

/** An id as bundles carry it: the exporter's (a UUID here, an integer in reference exports). */
const Id = z.union([z.string().min(1).max(64), z.number().int().transform(String)]);
const Obj = z.record(z.string(), z.unknown());
const Timestamp = z
  .string()
  .refine((s) => !Number.isNaN(Date.parse(s)), 'not a date')
  .nullable();

/** The rows of each JSONL entry, as the exporter writes them; the importer trusts nothing else. */
export const SchemeRow = z.object({
  id: Id,
  name: z.string(),
  description: z.string().nullish(),
  model_instructions: z.string().nullish(),
  fields: z.array(z.unknown()),
});
export const DatasourceRow = z.object({
  id: Id,
  name: z.string().min(1).max(255),
  type: z.enum(['text_block', 'url', 'url_list', 'csv', 'pdf']),
  options: Obj.default({}),
  status: z.string().default('complete'),
  error_message: z.string().nullish(),
  metadata: Obj.default({}),
  file: z.string().nullish(),
});
export const RecordRow = z.object({
  id: Id,
  source_key: z.string().min(1),
  title: z.string().nullish(),
  text_content: z.string(),
  source_metadata: Obj.default({}),
  event_timestamp: Timestamp.optional(),
  appended: z.boolean().default(false),
});
export const JobRow = z.object({
  id: Id,
  name: z.string().min(1).max(255),
  description: z.string().nullish(),
  status: z.string(),
  scheme_ids: z.array(Id),
  datasource_ids: z.array(Id).default([]),
  record_ids: z.array(Id).default([]),
  provider: z.string().min(1),
  model: z.string().min(1),
  options: Obj.default({}),
  error_message: z.string().nullish(),
});
export const ResultRow = z.object({
  id: Id,
  record_id: Id,
  scheme_id: Id,
  value: Obj,
  justifications: Obj.default({}),
  provider: z.string().min(1),
  model: z.string().min(1),
});
export type SchemeRow = z.output<typeof SchemeRow>;
export type DatasourceRow = z.output<typeof DatasourceRow>;
export type RecordRow = z.output<typeof RecordRow>;
export type JobRow = z.output<typeof JobRow>;
export type ResultRow = z.output<typeof ResultRow>;

/** A dataset: its sources are ids of the bundle's schemes and jobs (its members come after it). */
export const DatasetRow = z.object({
  id: Id,
  name: z.string().min(1).max(255),
  description: z.string().nullish(),
  custom_metadata: Obj.default({}),
  scheme_ids: z.array(Id).default([]),
  job_ids: z.array(Id).default([]),
});
/** One member of a dataset: a record of the bundle. */
export const MemberRow = z.object({ record_id: Id });
export type DatasetRow = z.output<typeof DatasetRow>;
export type MemberRow = z.output<typeof MemberRow>;
