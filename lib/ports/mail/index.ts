import path from 'node:path';
import type { Config } from '#lib/config.ts';
import { SesMailOutbox } from './aws.ts';
import { LocalMailOutbox } from './local.ts';
import type { MailOutbox } from './outbox.ts';

export type { Mail, MailOutbox } from './outbox.ts';

/** The outbox of the configured platform. On aws without EMAILS_FROM, mail cannot be sent. */
export function mailOutbox(config: Config): MailOutbox {
  if (config.platform === 'aws') {
    if (!config.emailsFrom) throw new Error('EMAILS_FROM is required to send mail on the aws platform');
    return new SesMailOutbox(config.emailsFrom);
  }
  return new LocalMailOutbox(path.resolve(config.dataDir, 'outbox'));
}
