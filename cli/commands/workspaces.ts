import type { Command } from 'commander';
import { workspaces } from '#lib/http/routes.ts';
import { updateProfile } from '../config.ts';
import { contextOf, table } from '../context.ts';

/** `docsift workspaces`: list, `--create <name>`, `use <id>` to set the default of later commands. */
export function workspacesCommand(program: Command) {
  const command = program
    .command('workspaces')
    .description('List your workspaces (the default marked *), or create one')
    .option('--create <name>', 'create a workspace with this name')
    .action(async (opts: { create?: string }, cmd: Command) => {
      const ctx = await contextOf(cmd);
      if (opts.create) {
        const created = await ctx.client.call(workspaces.create, { body: { name: opts.create } });
        return ctx.output(created, () => `Created workspace ${created.id} ${created.name}`);
      }
      const list = await ctx.client.call(workspaces.list, { query: { limit: 100 } });
      ctx.output(list.data, () =>
        list.data.length === 0
          ? 'No workspaces yet: docsift workspaces --create <name>'
          : table([
              ['', 'ID', 'NAME'],
              ...list.data.map((w) => [w.id === ctx.profile.workspace ? '*' : '', w.id, w.name]),
            ]),
      );
    });
  command
    .command('use <id>')
    .description('Make a workspace the default of later commands (for this API)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const ctx = await contextOf(cmd);
      const workspace = await ctx.client.call(workspaces.read, { params: { workspace_id: id } });
      await updateProfile(ctx.api, { workspace: workspace.id });
      ctx.output(workspace, () => `Default workspace: ${workspace.id} ${workspace.name}`);
    });
}
