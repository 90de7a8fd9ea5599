import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { bundles, jobs } from '#lib/http/routes.ts';
import type { ResponseOf } from '../api.ts';
import { CliError, type Context, contextOf } from '../context.ts';
import { POLL_MS, sleep } from '../progress.ts';

const FORMATS = ['csv', 'jsonl', 'json'] as const;

type ExportOut = ResponseOf<typeof bundles.readExport>;

/** Polls an export until it is written; its short-lived download link (no bearer token goes there). */
async function downloadWhenReady(ctx: Context, workspace_id: string, started: ExportOut): Promise<string> {
  let current = started;
  for (;;) {
    if (current.status === 'failed') throw new CliError(`The export failed: ${current.error_message ?? ''}`);
    if (current.status === 'complete' && current.download) return current.download.url;
    await sleep(POLL_MS);
    current = await ctx.client.call(bundles.readExport, { params: { workspace_id, export_id: current.id } });
  }
}

/**
 * `docsift results export --job … --format csv|jsonl|json [-o file]`. A large export is written
 * in the background (202): polled, then downloaded; a 303 (older servers) is followed.
 */
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
        const workspaceId = await ctx.workspace();
        let response = await ctx.client.send(jobs.export, {
          params: { workspace_id: workspaceId, job_id: opts.job },
          query: {
            format: opts.format as (typeof FORMATS)[number],
            include_text: opts.includeText ? 'true' : 'false',
          },
        });
        if (response.status === 202) {
          // Too large to answer at once: written in the background, then downloaded from its link.
          const started = (await response.json()) as ExportOut;
          ctx.info(`The export is large: written in the background (export ${started.id})`);
          const url = await downloadWhenReady(ctx, workspaceId, started);
          response = await fetch(url);
          if (!response.ok) throw new CliError(`Download of the export failed: ${response.status}`);
        } else if (response.status === 303) {
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
