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

/**
 * Move a provider batch of a job in batch mode along: submit it (preparing), look at it and
 * collect its answers (submitted), or cancel it (its job no longer runs). Sent by the planner,
 * the cancel route and every maintenance sweep; idempotent (lib/services/classify-batch.ts).
 */
export const AdvanceBatch = z.object({
  kind: z.literal('advance_batch'),
  job_id: z.uuid(),
  batch_id: z.uuid(),
});

export const ClassifyMessage = z.discriminatedUnion('kind', [PlanJob, ClassifyItems, AdvanceBatch]);
export type ClassifyMessage = z.output<typeof ClassifyMessage>;
export type PlanJob = z.output<typeof PlanJob>;
export type ClassifyItems = z.output<typeof ClassifyItems>;
export type AdvanceBatch = z.output<typeof AdvanceBatch>;

/** Items per classify message by default: small, so one slow answer holds back little else. */
export const ITEMS_PER_MESSAGE = 5;

/** `plan_cursor` of a job whose planner has gone through its records: later chain messages are stale. */
export const PLAN_DONE = 'ffffffff-ffff-ffff-ffff-ffffffffffff';

/**
 * A job's items as `classify_items` messages of about `size` items each, never splitting a
 * record's items between two messages: its schemes can then share one call. Items arrive
 * ordered by record (a record's items side by side); a message closes once it holds `size`
 * items and the next item is another record's, so with many schemes a message holds one record.
 *
 * @example itemMessages(job.id, items, 5) // 3 schemes: two records (6 items) a message
 */
export function itemMessages(
  jobId: string,
  items: readonly { record_id: string; scheme_id: string }[],
  size: number,
): ClassifyItems[] {
  const messages: ClassifyItems[] = [];
  let current: ClassifyItems['items'] = [];
  for (const { record_id, scheme_id } of items) {
    if (current.length >= size && current.at(-1)!.record_id !== record_id) {
      messages.push({ kind: 'classify_items', job_id: jobId, items: current });
      current = [];
    }
    current.push({ record_id, scheme_id });
  }
  if (current.length > 0) messages.push({ kind: 'classify_items', job_id: jobId, items: current });
  return messages;
}
