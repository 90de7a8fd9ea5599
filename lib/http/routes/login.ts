import { route } from '../route.ts';
import { AccessToken, EmailParam, LoginForm, NewPassword } from '../schemas/auth.ts';
import { Message } from '../schemas/common.ts';
import { UserPublic } from '../schemas/users.ts';
import { API } from './paths.ts';

/** Access tokens and password recovery. */
export const login = {
  accessToken: route({
    handler: 'login.accessToken',
    method: 'POST',
    path: `${API}/login/access-token`,
    auth: 'public',
    summary:
      'Exchange email and password for an access token (OAuth2 password form, as urlencoded or multipart form data, or JSON)',
    tags: ['login'],
    body: LoginForm,
    bodyTypes: ['form', 'multipart', 'json'],
    response: { status: 200, schema: AccessToken },
    errors: [400],
    compat: {},
  }),
  testToken: route({
    handler: 'login.testToken',
    method: 'POST',
    path: `${API}/login/test-token`,
    auth: 'user',
    summary: 'Return the user the access token belongs to',
    tags: ['login'],
    response: { status: 200, schema: UserPublic },
    compat: {},
  }),
  recoverPassword: route({
    handler: 'login.recoverPassword',
    method: 'POST',
    path: `${API}/password-recovery/{email}`,
    auth: 'public',
    summary: 'Send a password-reset mail (the answer is the same whether the email is known or not)',
    tags: ['login'],
    params: EmailParam,
    response: { status: 200, schema: Message },
    compat: {},
  }),
  recoveryMailPreview: route({
    handler: 'login.recoveryMailPreview',
    method: 'POST',
    path: `${API}/password-recovery-html-content/{email}`,
    auth: 'superuser',
    summary: 'The password-recovery mail a user would get, as HTML (its link holds no working token)',
    tags: ['login'],
    params: EmailParam,
    response: { status: 200, description: 'The mail as HTML', contentType: 'text/html' },
    errors: [403, 404],
    compat: {},
  }),
  resetPassword: route({
    handler: 'login.resetPassword',
    method: 'POST',
    path: `${API}/reset-password`,
    auth: 'public',
    summary: 'Set a new password with a reset token',
    tags: ['login'],
    body: NewPassword,
    response: { status: 200, schema: Message },
    errors: [400],
    compat: {},
  }),
};
