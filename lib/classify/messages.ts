import { z } from 'zod';

/** Turn a job's pending work items into classify messages. */
export const PlanJob = z.object({ kind: z.literal('plan_job'), job_id: z.uuid() });

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
