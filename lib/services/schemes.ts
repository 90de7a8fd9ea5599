import type { SchemeDefinition, SchemeField } from '#lib/classify/scheme-definition.ts';
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
  created_at: string;
  updated_at: string;
};

export function toSchemeOut(s: ClassificationScheme): SchemeOut {
  return {
    id: s.id,
    workspace_id: s.workspace_id,
    name: s.name,
    description: s.description,
    model_instructions: s.model_instructions,
    fields: s.fields as SchemeField[],
    created_at: s.created_at.toISOString(),
    updated_at: s.updated_at.toISOString(),
  };
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
  return { ...page, data: page.data.map(toSchemeOut) };
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
  changes: Partial<SchemeDefinition>,
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
