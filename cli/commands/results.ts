import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { jobs } from '#lib/http/routes.ts';
import { CliError, contextOf } from '../context.ts';

const FORMATS = ['csv', 'jsonl', 'json'] as const;

/** `docsift results export --job … --format csv|jsonl|json [-o file]`, following a 303 for large exports. */
export function resultsCommand(program: Command) {
  const command = program.command('results').description('Classification results');
  command
    .command('export')
    .description('Export every result of a job (stdout, or -o file)')
    .requiredOption('-j, --job <id>', 'job id')
    .option('-f, --format <format>', 'csv, jsonl or json', 'csv')
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .option('--include-text', 'add each record’s text')
    .action(
      async (opts: { job: string; format: string; output?: string; includeText?: boolean }, cmd: Command) => {
        if (!(FORMATS as readonly string[]).includes(opts.format))
          throw new CliError(`--format must be one of ${FORMATS.join(', ')}`);
        const ctx = await contextOf(cmd);
        let response = await ctx.client.send(jobs.export, {
          params: { workspace_id: await ctx.workspace(), job_id: opts.job },
          query: {
            format: opts.format as (typeof FORMATS)[number],
            include_text: opts.includeText ? 'true' : 'false',
          },
        });
        if (response.status === 303) {
          // A short-lived presigned link: no bearer token goes to the object store.
          const location = response.headers.get('location');
          if (!location) throw new CliError('The API answered 303 without a Location');
          response = await fetch(new URL(location, ctx.client.baseUrl));
          if (!response.ok) throw new CliError(`Download of the export failed: ${response.status}`);
        }
        if (!response.body) throw new CliError('The export is empty');
        const target = opts.output ? createWriteStream(opts.output) : process.stdout;
        await pipeline(Readable.fromWeb(response.body as import('node:stream/web').ReadableStream), target, {
          end: Boolean(opts.output),
        });
        if (opts.output) ctx.info(`Wrote ${opts.output}`);
      },
    );
}
