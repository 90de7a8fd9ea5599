import * as z from 'zod';
import { Password } from './users.ts';

export const LoginForm = z
  .object({
    username: z.string().min(1).meta({ description: 'The email address' }),
    password: z.string().min(1),
    grant_type: z.string().optional(),
    scope: z.string().optional(),
  })
  .meta({ id: 'LoginForm' });

export const AccessToken = z
  .object({ access_token: z.string(), token_type: z.literal('bearer') })
  .meta({ id: 'AccessToken' });

export const EmailParam = z.object({ email: z.string().min(1).max(320) });

export const NewPassword = z
  .object({ token: z.string().min(1), new_password: Password })
  .meta({ id: 'NewPassword' });
