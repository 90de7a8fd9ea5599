/** One outgoing mail. */
export type Mail = { to: string; subject: string; text: string };

/** Where outgoing mail goes: SES in AWS, the log and a folder under DATA_DIR locally. */
export interface MailOutbox {
  send(mail: Mail): Promise<void>;
}
