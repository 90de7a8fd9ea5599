import { sql } from 'kysely';
import type { SchemeDefinition, SchemeField, SchemeUpdate } from '#lib/classify/scheme-definition.ts';
import type { Db } from '#lib/db/database.ts';
import { keysetPage } from '#lib/db/paging.ts';
import type { ClassificationScheme, User } from '#lib/db/schema.ts';
import { ConflictError, NotFoundError } from '#lib/errors.ts';
import type { Paging } from '#lib/http/schemas/common.ts';
import { newId } from '#lib/ids.ts';
import { requireWorkspace } from './access.ts';

export type SchemeOut = {
  id: string;
  workspace_id: string;
  name: string;
  description: string;
  model_instructions: string | null;
  fields: SchemeField[];
  validation_rules: Record<string, unknown> | null;
  user_id: string | null;
  /** Results over the scheme. */
  classification_count: number;
  /** Jobs that classify with it. */
  job_count: number;
  created_at: string;
  updated_at: string;
};

type SchemeCounts = Pick<SchemeOut, 'classification_count' | 'job_count'>;

function toSchemeOut(s: ClassificationScheme, counts: SchemeCounts): SchemeOut {
  return {
    id: s.id,
    workspace_id: s.workspace_id,
    name: s.name,
    description: s.description,
    model_instructions: s.model_instructions,
    fields: s.fields as SchemeField[],
    validation_rules: s.validation_rules,
    user_id: s.user_id,
    ...counts,
    created_at: s.created_at.toISOString(),
    updated_at: s.updated_at.toISOString(),
  };
}

/** Schemes as the API answers them, with their result and job counts (two grouped queries). */
export async function schemesOut(db: Db, schemes: ClassificationScheme[]): Promise<SchemeOut[]> {
  if (schemes.length === 0) return [];
  const ids = schemes.map((s) => s.id);
  // One after the other: `db` may be a transaction, which runs one statement at a time.
  const results = await db
    .selectFrom('classification_results')
    .select(['scheme_id', sql<number>`count(*)::int`.as('count')])
    .where('scheme_id', 'in', ids)
    .groupBy('scheme_id')
    .execute();
  const jobs = await db
    .selectFrom(
      db
        .selectFrom('classification_jobs')
        .select(sql<string>`unnest(scheme_ids)`.as('scheme_id'))
        .where('workspace_id', '=', schemes[0]!.workspace_id)
        .where(sql<boolean>`scheme_ids && ${sql.val(ids)}::uuid[]`)
        .as('used'),
    )
    .select(['scheme_id', sql<number>`count(*)::int`.as('count')])
    .groupBy('scheme_id')
    .execute();
  const resultCount = new Map(results.map((r) => [r.scheme_id, r.count]));
  const jobCount = new Map(jobs.map((r) => [r.scheme_id, r.count]));
  return schemes.map((s) =>
    toSchemeOut(s, { classification_count: resultCount.get(s.id) ?? 0, job_count: jobCount.get(s.id) ?? 0 }),
  );
}

/** One scheme as the API answers it (see schemesOut). */
export async function schemeOut(db: Db, scheme: ClassificationScheme): Promise<SchemeOut> {
  return (await schemesOut(db, [scheme]))[0]!;
}

export async function createScheme(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  definition: SchemeDefinition,
): Promise<ClassificationScheme> {
  await requireWorkspace(db, user, workspaceId);
  return insertScheme(db, workspaceId, definition);
}

/** Writes a scheme without the ownership check (seeding a new workspace). */
export function insertScheme(
  db: Db,
  workspaceId: string,
  definition: SchemeDefinition,
): Promise<ClassificationScheme> {
  return db
    .insertInto('classification_schemes')
    .values({
      id: newId(),
      workspace_id: workspaceId,
      name: definition.name,
      description: definition.description ?? '',
      model_instructions: definition.model_instructions ?? null,
      validation_rules: definition.validation_rules ? JSON.stringify(definition.validation_rules) : null,
      fields: JSON.stringify(definition.fields),
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** A scheme of the caller's workspace, or 404. */
export async function requireScheme(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  schemeId: string,
): Promise<ClassificationScheme> {
  await requireWorkspace(db, user, workspaceId);
  const scheme = await db
    .selectFrom('classification_schemes')
    .selectAll()
    .where('id', '=', schemeId)
    .where('workspace_id', '=', workspaceId)
    .executeTakeFirst();
  if (!scheme) throw new NotFoundError('Classification scheme not found');
  return scheme;
}

export async function listSchemes(db: Db, user: Pick<User, 'id'>, workspaceId: string, paging: Paging) {
  await requireWorkspace(db, user, workspaceId);
  const page = await keysetPage<ClassificationScheme>(
    db.selectFrom('classification_schemes').where('workspace_id', '=', workspaceId),
    paging,
  );
  return { ...page, data: await schemesOut(db, page.data) };
}

/**
 * Updates a scheme. Its fields are frozen once results exist: those results were validated
 * against them, and changing the fields under them would make them lie. Copy the scheme instead.
 */
export async function updateScheme(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  schemeId: string,
  changes: SchemeUpdate,
): Promise<ClassificationScheme> {
  const current = await requireScheme(db, user, workspaceId, schemeId);
  if (changes.fields !== undefined && JSON.stringify(changes.fields) !== JSON.stringify(current.fields)) {
    const used = await db
      .selectFrom('classification_results')
      .select('id')
      .where('scheme_id', '=', schemeId)
      .limit(1)
      .executeTakeFirst();
    if (used) {
      throw new ConflictError(
        'The fields of a scheme with results cannot change; create a copy of the scheme with the new fields instead',
      );
    }
  }
  const values: Record<string, unknown> = {};
  if (changes.name !== undefined) values.name = changes.name;
  if (changes.description !== undefined) values.description = changes.description;
  if (changes.model_instructions !== undefined) values.model_instructions = changes.model_instructions;
  if (changes.validation_rules !== undefined)
    values.validation_rules = changes.validation_rules && JSON.stringify(changes.validation_rules);
  if (changes.fields !== undefined) values.fields = JSON.stringify(changes.fields);
  if (Object.keys(values).length === 0) return current;
  return db
    .updateTable('classification_schemes')
    .set(values)
    .where('id', '=', schemeId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Deletes a scheme with its results and work items. */
export async function deleteScheme(
  db: Db,
  user: Pick<User, 'id'>,
  workspaceId: string,
  schemeId: string,
): Promise<void> {
  await requireScheme(db, user, workspaceId, schemeId);
  await db.deleteFrom('classification_schemes').where('id', '=', schemeId).execute();
}

/** Deletes every scheme of the workspace with their results (the reference system's "delete all"). */
export async function deleteAllSchemes(db: Db, user: Pick<User, 'id'>, workspaceId: string): Promise<void> {
  await requireWorkspace(db, user, workspaceId);
  await db.deleteFrom('classification_schemes').where('workspace_id', '=', workspaceId).execute();
}
