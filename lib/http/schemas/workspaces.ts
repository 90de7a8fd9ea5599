import * as z from 'zod';
import { Id, listOf, Timestamp } from './common.ts';

const Name = z.string().trim().min(1).max(255);
const Description = z.string().max(10_000).nullable();
const Icon = z.string().max(255).nullable();

export const WorkspacePublic = z
  .object({
    id: Id,
    name: z.string(),
    description: z.string().nullable(),
    icon: z.string().nullable(),
    owner_id: Id,
    user_id_ownership: Id.meta({ description: 'The reference system’s name for owner_id' }),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'WorkspacePublic' });

export const WorkspacesPublic = listOf(WorkspacePublic).meta({ id: 'WorkspacesPublic' });

export const WorkspaceCreate = z
  .object({ name: Name, description: Description.optional(), icon: Icon.optional() })
  .meta({ id: 'WorkspaceCreate' });

export const WorkspaceUpdate = z
  .object({ name: Name.optional(), description: Description.optional(), icon: Icon.optional() })
  .meta({ id: 'WorkspaceUpdate' });

export const WorkspaceIdParam = z.object({ workspace_id: Id });
