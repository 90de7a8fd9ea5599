import * as z from 'zod';

/**
 * Plan the next chunk of a job: create the work items of the records after `after` (a record
 * id; absent means from the start, as every message sent before chunked planning meant), send
 * them out, and chain the next chunk.
 */
export const PlanJob = z.object({
  kind: z.literal('plan_job'),
  job_id: z.uuid(),
  after: z.uuid().optional(),
});

/** Classify these (record, scheme) items of a job. */
export const ClassifyItems = z.object({
  kind: z.literal('classify_items'),
  job_id: z.uuid(),
  items: z.array(z.object({ record_id: z.uuid(), scheme_id: z.uuid() })).min(1),
});

export const ClassifyMessage = z.discriminatedUnion('kind', [PlanJob, ClassifyItems]);
export type ClassifyMessage = z.output<typeof ClassifyMessage>;
export type PlanJob = z.output<typeof PlanJob>;
export type ClassifyItems = z.output<typeof ClassifyItems>;

/** `plan_cursor` of a job whose planner has gone through its records: later chain messages are stale. */
export const PLAN_DONE = 'ffffffff-ffff-ffff-ffff-ffffffffffff';
