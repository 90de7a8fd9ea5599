import path from 'node:path';
import type { Config } from '#lib/config.ts';
import { deferred } from '#lib/ports/deferred.ts';
import { LocalMailOutbox } from './local.ts';
import type { MailOutbox } from './outbox.ts';

export type { Mail, MailOutbox } from './outbox.ts';

/** The outbox of the configured platform. On aws without EMAILS_FROM, mail cannot be sent. */
export function mailOutbox(config: Config): MailOutbox {
  if (config.platform === 'aws') {
    if (!config.emailsFrom) throw new Error('EMAILS_FROM is required to send mail on the aws platform');
    const from = config.emailsFrom;
    // SES's client is imported by the first mail, not by every start of the login function.
    return deferred<MailOutbox>(async () => new (await import('./aws.ts')).SesMailOutbox(from), {
      send: true,
    });
  }
  return new LocalMailOutbox(path.resolve(config.dataDir, 'outbox'));
}
