import { pricesFromEnv } from '#lib/classify/prices.ts';
import type { Config } from '#lib/config.ts';
import { providersFromEnv } from '#lib/ports/llm/index.ts';
import { deadLetterQueueOf } from '#lib/ports/queue/queue.ts';

/** What a started local runtime runs, for the start-up log: no key, password or token in it. */
export type RuntimeSummary = {
  url: string;
  docs: string;
  listen: string;
  platform: Config['platform'];
  aws: string;
  database: string;
  queues: string;
  llm: string;
};

/** A URL without its user and password (a DATABASE_URL or base URL may carry them). */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.username = '';
    parsed.password = '';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return '(not a URL)';
  }
}

function llmSummary(env: Record<string, string | undefined>): string {
  try {
    const providers = providersFromEnv(env).list();
    // Read here so a bad LLM_PRICES shows at start, not first in a worker's retries.
    pricesFromEnv(env);
    if (providers.length === 0)
      return 'none configured (set OPENAI_BASE_URL/OPENAI_API_KEY or BEDROCK_MODELS)';
    return providers
      .map((p) => {
        const where =
          p.name === 'openai'
            ? ` at ${withoutCredentials(env.OPENAI_BASE_URL ?? 'https://api.openai.com/v1')}`
            : p.name === 'bedrock'
              ? ` in ${env.AWS_REGION ?? 'the SDK’s default region'}`
              : '';
        return `${p.name}${where}: ${p.models.join(', ')}${p.default ? ' (default)' : ''}`;
      })
      .join('; ');
  } catch (error) {
    return `invalid: ${(error as Error).message.replace(/\s+/g, ' ')}`;
  }
}

/**
 * Describes a started local runtime: where it answers, the platform and its AWS endpoint, the
 * database (embedded at its folder, or an external host and port), the queues and the LLM
 * providers with their models. Credentials are left out.
 */
export function runtimeSummary(
  config: Config,
  options: { url: string; listen: string; embeddedDir?: string; env?: Record<string, string | undefined> },
): RuntimeSummary {
  const env = options.env ?? process.env;
  const queues = [config.ingestQueue, config.classifyQueue, config.taskQueue];
  const endpoint = env.AWS_ENDPOINT_URL;
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'the SDK’s default region';
  const external = config.databaseUrl ? new URL(config.databaseUrl) : undefined;
  return {
    url: options.url,
    docs: `${options.url}/docs`,
    listen: options.listen,
    platform: config.platform,
    aws:
      config.platform === 'aws'
        ? `${endpoint ? withoutCredentials(endpoint) : 'AWS itself'} (${region})`
        : 'not used (local adapters)',
    database: options.embeddedDir
      ? `embedded PostgreSQL at ${options.embeddedDir}`
      : `external PostgreSQL at ${external?.hostname}:${external?.port || 5432}${external?.pathname ?? ''}`,
    queues:
      config.platform === 'aws'
        ? `SQS: ${queues.join(', ')} (each with a dead-letter queue ${deadLetterQueueOf('…')})`
        : `pg-boss in the database: ${queues.join(', ')} (each with a dead-letter queue ${deadLetterQueueOf('…')})`,
    llm: llmSummary(env),
  };
}

/** The summary as the block `npm start` prints: one line per part, aligned. */
export function formatSummary(summary: RuntimeSummary): string {
  const rows: Array<[string, string]> = [
    ['API', summary.url],
    ['Docs', summary.docs],
    ['Listening on', summary.listen],
    ['Platform', summary.platform],
    ['AWS endpoint', summary.aws],
    ['Database', summary.database],
    ['Queues', summary.queues],
    ['LLM providers', summary.llm],
  ];
  const width = Math.max(...rows.map(([k]) => k.length));
  return ['docsift is running', ...rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`)].join('\n');
}
