import * as z from 'zod';
import { PASSWORD_MAX_BYTES, PASSWORD_MIN_CHARS, passwordShapeProblem } from '#lib/auth/password-policy.ts';
import { Id, listOf, Timestamp } from './common.ts';

const Email = z
  .email()
  .max(320)
  .transform((e) => e.toLowerCase());
/**
 * A password as requests carry it: the checks that need no dictionary (length in characters
 * and bcrypt's 72 bytes, not blank). The common-password check runs in the service, which
 * knows the user's email.
 */
export const Password = z
  .string()
  .superRefine((value, ctx) => {
    const problem = passwordShapeProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: `Password ${problem}` });
  })
  .meta({
    description: `${PASSWORD_MIN_CHARS} characters to ${PASSWORD_MAX_BYTES} bytes, not blank, not a common or easily guessed password`,
  });
const FullName = z.string().max(255).nullable();

export const UserPublic = z
  .object({
    id: Id,
    email: z.string(),
    full_name: z.string().nullable(),
    is_active: z.boolean(),
    is_superuser: z.boolean(),
    created_at: Timestamp,
  })
  .meta({ id: 'UserPublic' });

export const UsersPublic = listOf(UserPublic).meta({ id: 'UsersPublic' });

export const UserRegister = z
  .object({ email: Email, password: Password, full_name: FullName.optional() })
  .meta({ id: 'UserRegister' });

export const UserCreate = z
  .object({
    email: Email,
    password: Password,
    full_name: FullName.optional(),
    is_active: z.boolean().default(true),
    is_superuser: z.boolean().default(false),
  })
  .meta({ id: 'UserCreate' });

/** An optional field that may also be null, meaning "not set" (the reference system's clients send null). */
function unsetWhenNull<T extends z.ZodType>(schema: T) {
  return schema.nullish().transform((v) => v ?? undefined);
}

export const UserUpdateMe = z
  .object({ email: unsetWhenNull(Email), full_name: FullName.optional() })
  .meta({ id: 'UserUpdateMe' });

export const UserUpdate = z
  .object({
    email: unsetWhenNull(Email),
    password: unsetWhenNull(Password),
    full_name: FullName.optional(),
    is_active: z.boolean().optional(),
    is_superuser: z.boolean().optional(),
  })
  .meta({ id: 'UserUpdate' });

export const UpdatePassword = z
  .object({ current_password: z.string().min(1), new_password: Password })
  .meta({ id: 'UpdatePassword' });

export const UserIdParam = z.object({ user_id: Id });
