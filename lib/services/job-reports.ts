import type { SchemeField } from '#lib/classify/scheme-definition.ts';
import { summarize } from '#lib/classify/summary.ts';
import type { Db } from '#lib/db/database.ts';
import type { ClassificationJob } from '#lib/db/schema.ts';

async function schemesOf(db: Db, schemeIds: string[]) {
  if (schemeIds.length === 0) return [];
  const rows = await db
    .selectFrom('classification_schemes')
    .select(['id', 'name', 'fields'])
    .where('id', 'in', schemeIds)
    .execute();
  return rows.map((r) => ({ id: r.id, name: r.name, fields: r.fields as SchemeField[] }));
}

/**
 * Per scheme of a job and field: label counts, or min/max/mean and a histogram. The caller has
 * checked that the job may be read.
 */
export async function jobSummary(db: Db, job: ClassificationJob) {
  const out = [];
  for (const scheme of await schemesOf(db, job.scheme_ids)) {
    const values = await db
      .selectFrom('classification_results')
      .select('value')
      .where('job_id', '=', job.id)
      .where('scheme_id', '=', scheme.id)
      .execute();
    out.push({
      scheme_id: scheme.id,
      name: scheme.name,
      results: values.length,
      fields: summarize(
        scheme.fields,
        values.map((v) => v.value),
      ),
    });
  }
  return { job_id: job.id, schemes: out };
}
