import { secretKey } from '#lib/auth/secret-key.ts';
import { createAccessToken } from '#lib/auth/tokens.ts';
import { config } from '#lib/config.ts';
import { BadRequestError } from '#lib/http/errors.ts';
import { httpHandler } from '#lib/http/handler.ts';
import { RawResponse } from '#lib/http/response.ts';
import { login } from '#lib/http/routes/login.ts';
import { mailOutbox } from '#lib/ports/mail/index.ts';
import { logIn } from '#lib/services/login.ts';
import * as recovery from '#lib/services/password-recovery.ts';
import { toUserOut } from '#lib/services/users.ts';

export const accessToken = httpHandler(login.accessToken, async ({ db, body, event }) => {
  const result = await logIn(
    db,
    { email: body.username, password: body.password },
    { address: event.requestContext?.http?.sourceIp },
    config().loginThrottle,
  );
  if (!result.ok)
    throw new BadRequestError(result.error === 'inactive' ? 'Inactive user' : 'Incorrect email or password');
  const token = createAccessToken(result.user, await secretKey(), config().accessTokenExpireMinutes);
  return { access_token: token, token_type: 'bearer' as const };
});

export const testToken = httpHandler(login.testToken, async ({ user }) => toUserOut(user));

export const recoverPassword = httpHandler(login.recoverPassword, async ({ db, params, event }) => {
  const { frontendUrl, passwordResetTokenExpireMinutes, recoveryThrottle } = config();
  await recovery.requestPasswordReset(db, mailOutbox(config()), params.email, {
    frontendUrl,
    expireMinutes: passwordResetTokenExpireMinutes,
    client: { address: event.requestContext?.http?.sourceIp },
    throttle: recoveryThrottle,
  });
  return { message: recovery.RECOVERY_SENT };
});

export const resetPassword = httpHandler(login.resetPassword, async ({ db, body }) => {
  await recovery.resetPassword(db, body.token, body.new_password);
  return { message: 'Password updated successfully' };
});

export const recoveryMailPreview = httpHandler(login.recoveryMailPreview, async ({ db, params }) => {
  const { frontendUrl, passwordResetTokenExpireMinutes } = config();
  const html = await recovery.recoveryMailPreview(db, params.email, {
    frontendUrl,
    expireMinutes: passwordResetTokenExpireMinutes,
  });
  return new RawResponse(200, html, { 'content-type': 'text/html; charset=utf-8' });
});
