import { Command, CommanderError } from 'commander';
import { ApiError } from './api.ts';
import { classifyCommand } from './commands/classify.ts';
import { ingestCommand } from './commands/ingest.ts';
import { loginCommand } from './commands/login.ts';
import { resultsCommand } from './commands/results.ts';
import { schemesCommand } from './commands/schemes.ts';
import { workspacesCommand } from './commands/workspaces.ts';
import { CliError, DEFAULT_API } from './context.ts';

/** The docsift CLI: the daily loop (login, ingest, schemes, classify, export) against any deployment. */
export function buildProgram(): Command {
  const program = new Command('docsift')
    .description('docsift from the command line: ingest documents, classify them, export the results')
    .option('--api <url>', `API base URL (DOCSIFT_API, default ${DEFAULT_API})`)
    .option('-w, --workspace <id>', 'workspace (default: set by `workspaces use`, else your default one)')
    .option('--json', 'machine-readable output on stdout')
    .showHelpAfterError()
    .exitOverride();
  for (const add of [
    loginCommand,
    workspacesCommand,
    ingestCommand,
    schemesCommand,
    classifyCommand,
    resultsCommand,
  ])
    add(program);
  return program;
}

/** Runs the CLI and answers the exit code: 0, or 1 with the reason (the API's problem detail) on stderr. */
export async function run(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode; // commander printed it already
    if (error instanceof CliError || error instanceof ApiError) {
      process.stderr.write(`error: ${error.message}\n`);
      return error instanceof CliError ? error.exitCode : 1;
    }
    process.stderr.write(`error: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  }
}

process.exitCode = await run(process.argv.slice(2));
