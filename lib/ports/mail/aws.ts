import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import type { Mail, MailOutbox } from './outbox.ts';

/** Sends mail through Amazon SES (v2). Only the recipient and subject are ever logged. */
export class SesMailOutbox implements MailOutbox {
  private readonly client = new SESv2Client({});
  constructor(private readonly from: string) {}

  async send(mail: Mail): Promise<void> {
    await this.client.send(
      new SendEmailCommand({
        FromEmailAddress: this.from,
        Destination: { ToAddresses: [mail.to] },
        Content: { Simple: { Subject: { Data: mail.subject }, Body: { Text: { Data: mail.text } } } },
      }),
    );
  }
}
