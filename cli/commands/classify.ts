import type { Command } from 'commander';
import { jobs } from '#lib/http/routes.ts';
import type { ResponseOf } from '../api.ts';
import { CliError, type Context, contextOf } from '../context.ts';
import { POLL_MS, progressBar, sleep } from '../progress.ts';

type Job = ResponseOf<typeof jobs.read>;
const FINISHED = ['completed', 'completed_with_errors', 'failed', 'cancelled', 'budget_exceeded'];

const collect = (value: string, previous: string[] = []) => [
  ...previous,
  ...value.split(',').filter(Boolean),
];

/**
 * `docsift classify --scheme … --datasource …`: starts a job and follows it to the end. Exit 1 when
 * the job fails or is cancelled; completed_with_errors exits 0 with a warning (see `failed`).
 */
export function classifyCommand(program: Command) {
  program
    .command('classify')
    .description('Classify datasources with schemes and follow the job (done, failed, rate, ETA)')
    .requiredOption('-s, --scheme <ids>', 'scheme id (repeat or comma-separate)', collect)
    .requiredOption('-d, --datasource <ids>', 'datasource id (repeat or comma-separate)', collect)
    .option('-n, --name <name>', 'job name', 'CLI job')
    .option('--provider <name>', 'LLM provider (default: the server’s)')
    .option('--model <name>', 'model (default: the server’s)')
    .option('--no-wait', 'print the job and return at once')
    .action(
      async (
        opts: {
          scheme: string[];
          datasource: string[];
          name: string;
          provider?: string;
          model?: string;
          wait: boolean;
        },
        command: Command,
      ) => {
        const ctx = await contextOf(command);
        const workspace_id = await ctx.workspace();
        const created = await ctx.client.call(jobs.create, {
          params: { workspace_id },
          body: {
            name: opts.name,
            scheme_ids: opts.scheme,
            datasource_ids: opts.datasource,
            ...(opts.provider && { provider: opts.provider }),
            ...(opts.model && { model: opts.model }),
          },
        });
        ctx.info(`Job ${created.id} started (${created.provider}/${created.model})`);
        const job = opts.wait ? await follow(ctx, workspace_id, created) : created;
        const { succeeded, failed, total } = job.progress;
        ctx.output(job, () => `Job ${job.id} ${job.status}: ${succeeded} done, ${failed} failed of ${total}`);
        if (job.status === 'failed' || job.status === 'cancelled')
          throw new CliError(
            `Job ${job.id} ${job.status}${job.error_message ? `: ${job.error_message}` : ''}`,
          );
        if (job.status === 'completed_with_errors')
          process.stderr.write(
            `warning: ${failed} items failed; see GET …/classification_jobs/${job.id}/failures\n`,
          );
      },
    );
}

async function follow(ctx: Context, workspace_id: string, job: Job): Promise<Job> {
  const bar = progressBar(
    'Classifying |{bar}| {done} done, {failed} failed of {total} | {rate}/s | ETA {eta_formatted}',
    { done: 0, failed: 0, rate: '0.0' },
  );
  const started = Date.now();
  try {
    for (;;) {
      if (FINISHED.includes(job.status)) return job;
      await sleep(POLL_MS);
      job = await ctx.client.call(jobs.read, { params: { workspace_id, job_id: job.id } });
      const { succeeded, failed, total } = job.progress;
      const rate = (succeeded + failed) / Math.max((Date.now() - started) / 1000, 0.001);
      bar.update(succeeded + failed, total, { done: succeeded, failed, rate: rate.toFixed(1) });
    }
  } finally {
    bar.stop();
  }
}
