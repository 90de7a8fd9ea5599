import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { login as loginRoutes } from '#lib/http/routes.ts';
import { updateProfile } from '../config.ts';
import { CliError, contextOf } from '../context.ts';

/** `docsift login`: exchanges email and password for a token and stores it for this API. */
export function loginCommand(program: Command) {
  program
    .command('login')
    .description('Sign in and store the access token in the config file (mode 0600)')
    .option('-e, --email <email>', 'account email (DOCSIFT_EMAIL)')
    .option('--password-stdin', 'read the password from stdin (for scripts)')
    .action(async (opts: { email?: string; passwordStdin?: boolean }, command: Command) => {
      const ctx = await contextOf(command, { auth: false });
      const email = opts.email ?? process.env.DOCSIFT_EMAIL ?? (await ask('Email: '));
      const password = opts.passwordStdin ? await readStdin() : await ask('Password: ', true);
      if (!email || !password) throw new CliError('An email and a password are needed');
      const { access_token } = await ctx.client.call(loginRoutes.accessToken, {
        body: { username: email, password },
        as: 'form',
      });
      await updateProfile(ctx.api, { token: access_token, email });
      ctx.output({ api: ctx.api, email }, () => `Logged in to ${ctx.api} as ${email}`);
    });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** Asks on the terminal; `hidden` echoes nothing (a password). */
async function ask(question: string, hidden = false): Promise<string> {
  if (!process.stdin.isTTY)
    throw new CliError(`${question.replace(/: $/, '')} needed: pass it as an option or on stdin`);
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  if (hidden) {
    const write = (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput;
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s) => {
      if (s.includes(question)) write.call(rl, s);
    };
  }
  try {
    return (await rl.question(question)).trim();
  } finally {
    if (hidden) process.stderr.write('\n');
    rl.close();
  }
}
