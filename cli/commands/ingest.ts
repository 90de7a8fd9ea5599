import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { datasources } from '#lib/http/routes.ts';
import type { ResponseOf } from '../api.ts';
import { CliError, type Context, contextOf, table } from '../context.ts';
import { POLL_MS, progressBar, sleep } from '../progress.ts';

type Datasource = ResponseOf<typeof datasources.read>;

const FILE_TYPES: Record<string, 'csv' | 'pdf'> = { '.csv': 'csv', '.pdf': 'pdf' };

/**
 * `docsift ingest <files or URLs…>`: each CSV or PDF file becomes a datasource uploaded through its
 * presigned POST; all URLs together become one url_list datasource. Follows processing to the end.
 */
export function ingestCommand(program: Command) {
  program
    .command('ingest')
    .description('Ingest CSV/PDF files (one datasource each) and URLs (one url_list datasource)')
    .argument('<inputs...>', 'files (.csv, .pdf) and http(s) URLs')
    .option('-n, --name <name>', 'datasource name (default: the file name, or "URLs")')
    .option('--no-wait', 'return once uploaded, without following processing')
    .action(async (inputs: string[], opts: { name?: string; wait: boolean }, command: Command) => {
      const ctx = await contextOf(command);
      const urls = inputs.filter((i) => /^https?:\/\//i.test(i));
      const files = inputs.filter((i) => !urls.includes(i));
      for (const file of files)
        if (!FILE_TYPES[path.extname(file).toLowerCase()])
          throw new CliError(`${file}: not a .csv or .pdf file, nor an http(s) URL`);
      const workspace_id = await ctx.workspace();
      const created: Datasource[] = [];
      for (const file of files) created.push(await uploadFile(ctx, workspace_id, file, opts.name));
      if (urls.length > 0) {
        const list = await ctx.client.call(datasources.create, {
          params: { workspace_id },
          body: { name: opts.name ?? 'URLs', type: 'url_list', options: { urls } },
        });
        created.push(...list.data);
        ctx.info(`Created ${list.data[0]?.id} ${opts.name ?? 'URLs'} (${urls.length} URLs)`);
      }
      const finished = opts.wait ? await followAll(ctx, workspace_id, created) : created;
      ctx.output(finished, () =>
        table([
          ['ID', 'NAME', 'TYPE', 'STATUS', 'RECORDS'],
          ...finished.map((d) => [d.id, d.name, d.type, d.status, String(d.record_count)]),
        ]),
      );
      const failed = finished.filter((d) => d.status === 'failed');
      if (failed.length > 0)
        throw new CliError(failed.map((d) => `${d.name}: ${d.error_message ?? 'failed'}`).join('\n'));
    });
}

async function uploadFile(ctx: Context, workspace_id: string, file: string, name?: string) {
  const type = FILE_TYPES[path.extname(file).toLowerCase()]!;
  const bytes = await readFile(file).catch((error: NodeJS.ErrnoException) => {
    throw new CliError(`${file}: ${error.code === 'ENOENT' ? 'no such file' : error.message}`);
  });
  const list = await ctx.client.call(datasources.create, {
    params: { workspace_id },
    body: { name: name ?? path.basename(file), type, options: {} },
  });
  const source = list.data[0];
  if (!source?.upload) throw new CliError(`${file}: the API answered without an upload`);
  if (bytes.length > source.upload.max_bytes)
    throw new CliError(`${file}: ${bytes.length} bytes, over the upload limit of ${source.upload.max_bytes}`);
  // A presigned POST: every field first, then the file (S3's rule; the local store follows it).
  const form = new FormData();
  for (const [key, value] of Object.entries(source.upload.fields)) form.append(key, value);
  form.append('file', new Blob([new Uint8Array(bytes)]), path.basename(file));
  const response = await fetch(source.upload.url, { method: 'POST', body: form });
  if (!response.ok) {
    const text = (await response.text()).slice(0, 300);
    throw new CliError(`${file}: upload refused (${response.status}) ${text}`);
  }
  ctx.info(`Uploaded ${file} → datasource ${source.id}`);
  return source;
}

const DONE = ['complete', 'failed'];

/** Polls the datasources until each is complete or failed, with one bar over their processed units. */
async function followAll(ctx: Context, workspace_id: string, sources: Datasource[]) {
  const bar = progressBar('Processing |{bar}| {value}/{total} {status}', { status: '' });
  let current = sources;
  try {
    for (;;) {
      current = await Promise.all(
        current.map((d) =>
          DONE.includes(d.status)
            ? d
            : ctx.client.call(datasources.read, { params: { workspace_id, datasource_id: d.id } }),
        ),
      );
      let processed = 0;
      let total = 0;
      for (const d of current) {
        const progress = (d.metadata.progress ?? {}) as { processed?: number; total?: number };
        const done = DONE.includes(d.status);
        const units = progress.total ?? Math.max(progress.processed ?? 0, d.record_count, 1);
        total += units;
        processed += done ? units : Math.min(progress.processed ?? 0, units);
      }
      const finished = current.filter((d) => DONE.includes(d.status)).length;
      bar.update(processed, total, { status: `${finished}/${current.length} sources done` });
      if (finished === current.length) return current;
      await sleep(POLL_MS);
    }
  } finally {
    bar.stop();
  }
}
