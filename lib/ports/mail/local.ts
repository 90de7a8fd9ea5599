import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { newId } from '#lib/ids.ts';
import { logger } from '#lib/logger.ts';
import type { Mail, MailOutbox } from './outbox.ts';

/**
 * Local development outbox: each mail is logged and written to `<dir>/<id>.json`, so a
 * developer can follow a password-reset link without a mail server.
 */
export class LocalMailOutbox implements MailOutbox {
  constructor(private readonly dir: string) {}

  async send(mail: Mail): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = path.join(this.dir, `${newId()}.json`);
    await writeFile(file, JSON.stringify({ ...mail, sent_at: new Date().toISOString() }, null, 2));
    logger.info('Mail written to the local outbox', {
      to: mail.to,
      subject: mail.subject,
      file,
      text: mail.text,
    });
  }
}
