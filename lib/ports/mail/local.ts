import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { newId } from '#lib/ids.ts';
import { logger } from '#lib/logger.ts';
import type { Mail, MailOutbox } from './outbox.ts';

/**
 * Local development outbox: each mail is written to `<dir>/<id>.json` (owner-only: 0600 in a
 * 0700 folder), so a developer can follow a password-reset link without a mail server. The log
 * names the file, never the body: a reset link in a log is a password for whoever reads it.
 */
export class LocalMailOutbox implements MailOutbox {
  constructor(private readonly dir: string) {}

  async send(mail: Mail): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const file = path.join(this.dir, `${newId()}.json`);
    await writeFile(file, JSON.stringify({ ...mail, sent_at: new Date().toISOString() }, null, 2), {
      mode: 0o600,
    });
    logger.info('Mail written to the local outbox', { to: mail.to, subject: mail.subject, file });
  }
}
