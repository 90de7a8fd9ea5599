import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { schemes } from '#lib/http/routes.ts';
import type { RequestOf } from '../api.ts';
import { CliError, contextOf, table } from '../context.ts';

type SchemeBody = NonNullable<RequestOf<typeof schemes.create>['body']>;

/** `docsift schemes create -f scheme.json` and `docsift schemes list`. */
export function schemesCommand(program: Command) {
  const command = program.command('schemes').description('Classification schemes');
  command
    .command('create')
    .description('Create a scheme from a JSON file ({name, description, fields: [...]})')
    .requiredOption('-f, --file <file>', 'the scheme as JSON')
    .action(async (opts: { file: string }, cmd: Command) => {
      const ctx = await contextOf(cmd);
      let body: SchemeBody;
      try {
        body = JSON.parse(await readFile(opts.file, 'utf8'));
      } catch (error) {
        throw new CliError(`${opts.file}: ${(error as Error).message}`);
      }
      const scheme = await ctx.client.call(schemes.create, {
        params: { workspace_id: await ctx.workspace() },
        body,
      });
      ctx.output(scheme, () => `Created scheme ${scheme.id} ${scheme.name}`);
    });
  command
    .command('list')
    .description('List the workspace’s schemes')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = await contextOf(cmd);
      const list = await ctx.client.call(schemes.list, {
        params: { workspace_id: await ctx.workspace() },
        query: { limit: 100 },
      });
      ctx.output(list.data, () =>
        table([['ID', 'NAME', 'FIELDS'], ...list.data.map((s) => [s.id, s.name, String(s.fields.length)])]),
      );
    });
}
