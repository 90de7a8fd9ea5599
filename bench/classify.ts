/**
 * Throughput of a real classification job through the whole local pipeline: HTTP API → pg-boss
 * queue → planner → classify worker → provider (OpenAI wire protocol) → validation → Postgres,
 * against a fake provider that answers after a fixed latency. The anchor is the ideal throughput
 * of a provider kept fully busy at the configured cap: LLM_CONCURRENCY ÷ latency.
 *
 *   npm run bench:classify      (ITEMS=200 LATENCY_MS=200 LLM_CONCURRENCY=8 to change the load)
 *
 * Then input tokens per result, as the fake provider counts them, over TOKEN_RECORDS records of
 * each length in RECORD_CHARS: one scheme, and three schemes asked one call per scheme (the
 * anchor) and one call per record (`combine_schemes`). Goal: the latter ≤ 0.5× the anchor.
 */
import type { ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from '#lib/db/embedded.ts';
import { apiClient } from '#test/support/client.ts';
import { startFakeLlm } from '#test/support/fake-llm.ts';
import { startProcess, stopProcess as stop } from './processes.ts';

const ITEMS = Number(process.env.ITEMS ?? 200);
const TOKEN_RECORDS = Number(process.env.TOKEN_RECORDS ?? 20);
/** Record lengths in characters: a survey answer, a short article, a news article, a long one. */
const RECORD_CHARS = (process.env.RECORD_CHARS ?? '300,1500,3000,6000').split(',').map(Number);
const LATENCY_MS = Number(process.env.LATENCY_MS ?? 200);
const LLM_CONCURRENCY = Number(process.env.LLM_CONCURRENCY ?? 8);
const POLL_MS = 100;
const SUPERUSER = { email: 'bench@example.com', password: 'bench-password' };

/** Polls `get` every POLL_MS until `done` holds for its answer, or throws after `timeoutMs`. */
async function pollUntil<T>(get: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await get();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`still waiting after ${timeoutMs} ms: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

function check(res: { status: number; text: string }, expected: number, what: string) {
  if (res.status !== expected) throw new Error(`${what}: ${res.status} ${res.text}`);
}

const scheme = {
  name: 'Bench',
  description: 'Topic and tone of a customer message',
  fields: [
    {
      name: 'topics',
      description: 'What the message is about',
      type: 'List[str]',
      is_set_of_labels: true,
      labels: ['Billing', 'Delivery', 'Product', 'Other'],
      max_selections: 2,
    },
    { name: 'intensity', description: '1 calm .. 5 heated', type: 'int', scale_min: 1, scale_max: 5 },
  ],
};
const TOPICS = ['invoice', 'parcel', 'refund', 'warranty', 'delivery', 'discount', 'account', 'battery'];
const text = (i: number) =>
  `Message ${i}: the customer wrote about the ${TOPICS[i % TOPICS.length]} and asked for an answer ` +
  `within ${1 + (i % 7)} days, mentioning order ${10_000 + i}.`;

const SENTENCES = [
  'The city council voted late on Tuesday to raise the fuel tax by four cents a litre.',
  'Supporters said the money would fund two new clinics in the northern districts.',
  'Opponents warned that commuters without a train line would pay the most.',
  'The mayor promised a review of bus routes before the tax takes effect in spring.',
  'Farmers asked for an exemption for machinery, which the council refused.',
  'A local business group called the decision rushed and threatened to go to court.',
  'Nurses at the regional hospital welcomed the plan but asked for more staff as well.',
  'The opposition leader said the vote showed the coalition had lost touch with voters.',
];
/** A news-like record of about `chars` characters, different for every `i`. */
const article = (i: number, chars: number) => {
  let body = `Report ${i}.`;
  for (let n = i; body.length < chars; n++) body += ` ${SENTENCES[n % SENTENCES.length]}`;
  return body;
};

const fake = await startFakeLlm({ latencyMs: LATENCY_MS });
const dataDir = await mkdtemp(path.join(tmpdir(), 'docsift-bench-classify-'));
// Postgres runs as user `postgres` when we are root: it must be able to enter the directory.
await chmod(dataDir, 0o755);
const port = await freePort();
const api = apiClient(`http://127.0.0.1:${port}`);
let runtime: ChildProcess | undefined;
try {
  runtime = await startProcess(
    ['lib/local/main.ts'],
    {
      PORT: String(port),
      DATA_DIR: dataDir,
      FIRST_SUPERUSER: SUPERUSER.email,
      FIRST_SUPERUSER_PASSWORD: SUPERUSER.password,
      LOG_LEVEL: 'ERROR',
      OPENAI_BASE_URL: `${fake.url}/v1`,
      OPENAI_API_KEY: 'sk-bench',
      OPENAI_MODELS: 'fake-model',
      LLM_CONCURRENCY: String(LLM_CONCURRENCY),
    },
    `http://127.0.0.1:${port}/api/v1/healthz`,
  );
  const token = await api.login(SUPERUSER.email, SUPERUSER.password);
  const workspace = await api.post('/api/v1/workspaces', { token, json: { name: 'Bench' } });
  check(workspace, 201, 'creating the workspace');
  const ws: string = workspace.body.id;

  const created = await api.post(`/api/v1/workspaces/${ws}/classification_schemes`, { token, json: scheme });
  check(created, 201, 'creating the scheme');
  const schemeId: string = created.body.id;

  const source = await api.post(`/api/v1/workspaces/${ws}/datasources`, {
    token,
    json: { name: 'Messages', type: 'text_block', options: { text: text(0) } },
  });
  check(source, 201, 'creating the datasource');
  const dsId: string = source.body.data[0].id;
  const dsPath = `/api/v1/workspaces/${ws}/datasources/${dsId}`;
  await pollUntil(
    () => api.get(dsPath, { token }),
    (r) => r.body.status === 'complete' || r.body.status === 'failed',
    30_000,
  );
  for (let i = 1; i < ITEMS; i++) {
    const res = await api.post(`${dsPath}/records`, {
      token,
      json: { content: text(i), content_type: 'text' },
    });
    check(res, 201, `appending record ${i}`);
  }
  const ds = await api.get(dsPath, { token });
  if (ds.body.status !== 'complete' || ds.body.record_count !== ITEMS)
    throw new Error(
      `datasource is ${ds.body.status} with ${ds.body.record_count} records, expected ${ITEMS}`,
    );

  fake.reset();
  // Samples the provider's in-flight count, for its mean over the job.
  let samples = 0;
  let inFlightSum = 0;
  let idleSamples = 0;
  const sampler = setInterval(() => {
    samples++;
    inFlightSum += fake.inFlight;
    if (fake.inFlight === 0) idleSamples++;
  }, 5);
  let firstRequestMs: number | undefined;
  const start = performance.now();
  fake.onRequest(() => {
    firstRequestMs ??= performance.now() - start;
    return undefined;
  });

  const jobsPath = `/api/v1/workspaces/${ws}/classification_jobs`;
  const job = await api.post(jobsPath, {
    token,
    json: { name: 'Bench', scheme_ids: [schemeId], datasource_ids: [dsId] },
  });
  check(job, 201, 'creating the job');
  const done = await pollUntil(
    () => api.get(`${jobsPath}/${job.body.id}`, { token }),
    (r) => ['completed', 'completed_with_errors', 'failed', 'cancelled'].includes(r.body.status),
    Math.max(60_000, (ITEMS * LATENCY_MS * 20) / LLM_CONCURRENCY),
  );
  const ms = performance.now() - start;
  clearInterval(sampler);

  // The planner creates the items after the request: the total is final once the job is done.
  if (done.body.progress.total !== ITEMS)
    throw new Error(`the job has ${done.body.progress.total} items, expected ${ITEMS}`);
  if (done.body.status !== 'completed' || done.body.progress.succeeded !== ITEMS)
    throw new Error(`the job ended ${done.body.status}: ${JSON.stringify(done.body.progress)}`);
  const results = await api.get(
    `/api/v1/workspaces/${ws}/classification_results?job_id=${job.body.id}&limit=1`,
    {
      token,
    },
  );
  if (results.body.count !== ITEMS) throw new Error(`${results.body.count} results, expected ${ITEMS}`);

  const measured = ITEMS / (ms / 1000);
  const ideal = LLM_CONCURRENCY / (LATENCY_MS / 1000);
  const serverMs = Date.parse(done.body.finished_at) - Date.parse(done.body.created_at);
  const meanInFlight = samples ? inFlightSum / samples : 0;
  const idleShare = samples ? idleSamples / samples : 0;
  console.log(
    `classification job, ${ITEMS} records × 1 scheme (2 fields), fake provider at ${LATENCY_MS} ms, ` +
      `LLM_CONCURRENCY=${LLM_CONCURRENCY}`,
  );
  console.log(
    `  measured:         ${measured.toFixed(1).padStart(6)} results/s  (${(ms / 1000).toFixed(2)} s from POST to completed, polled every ${POLL_MS} ms)`,
  );
  console.log(
    `  ideal (anchor):   ${ideal.toFixed(1).padStart(6)} results/s  (${LLM_CONCURRENCY} ÷ ${LATENCY_MS / 1000} s)`,
  );
  console.log(`  ratio (measured / ideal): ${(measured / ideal).toFixed(3)}`);
  console.log(
    `  provider: ${fake.requests.length} requests, max in flight ${fake.maxConcurrent} of ${LLM_CONCURRENCY}, ` +
      `mean in flight ${meanInFlight.toFixed(2)}, none in flight ${(idleShare * 100).toFixed(0)}% of the time`,
  );
  console.log(
    `  first provider request ${firstRequestMs?.toFixed(0) ?? '-'} ms after POST; ` +
      `job created_at → finished_at ${(serverMs / 1000).toFixed(2)} s`,
  );

  // Input tokens per result: records of a realistic length (a short article, a long survey
  // answer), classified with latency 0, by one scheme and by three.
  fake.latencyMs = 0;
  const extra = await Promise.all(
    ['scheme-topics.json', 'scheme-tone.json'].map(async (file) => {
      const definition = JSON.parse(await readFile(path.join('examples', file), 'utf8'));
      const res = await api.post(`/api/v1/workspaces/${ws}/classification_schemes`, {
        token,
        json: definition,
      });
      check(res, 201, `creating the scheme of ${file}`);
      return res.body.id as string;
    }),
  );
  /** A datasource of TOKEN_RECORDS articles of about `chars` characters. */
  const articles = async (chars: number) => {
    const created = await api.post(`/api/v1/workspaces/${ws}/datasources`, {
      token,
      json: { name: `Articles of ${chars}`, type: 'text_block', options: { text: article(0, chars) } },
    });
    check(created, 201, 'creating the articles');
    const id: string = created.body.data[0].id;
    const at = `/api/v1/workspaces/${ws}/datasources/${id}`;
    await pollUntil(
      () => api.get(at, { token }),
      (r) => r.body.status === 'complete',
      30_000,
    );
    for (let i = 1; i < TOKEN_RECORDS; i++) {
      const res = await api.post(`${at}/records`, {
        token,
        json: { content: article(i, chars), content_type: 'text' },
      });
      check(res, 201, `appending article ${i}`);
    }
    return id;
  };
  /** Runs a job; its input tokens per result as the fake counted them (docsift must have recorded the same). */
  const tokensPerResult = async (datasourceId: string, schemeIds: string[], combine: boolean) => {
    fake.reset();
    const res = await api.post(jobsPath, {
      token,
      json: {
        name: 'Tokens',
        scheme_ids: schemeIds,
        datasource_ids: [datasourceId],
        options: { combine_schemes: combine },
      },
    });
    check(res, 201, 'creating a token job');
    const ended = await pollUntil(
      () => api.get(`${jobsPath}/${res.body.id}`, { token }),
      (r) => !['pending', 'running'].includes(r.body.status),
      120_000,
    );
    const results = TOKEN_RECORDS * schemeIds.length;
    if (ended.body.status !== 'completed' || ended.body.progress.succeeded !== results)
      throw new Error(`the token job ended ${ended.body.status}: ${JSON.stringify(ended.body.progress)}`);
    const counted = fake.requests.reduce((n, r) => n + (r.usage?.input ?? 0), 0);
    const cached = fake.requests.reduce((n, r) => n + (r.usage?.cached ?? 0), 0);
    if (ended.body.usage.input_tokens !== counted || ended.body.usage.calls !== fake.requests.length)
      throw new Error(
        `docsift recorded ${ended.body.usage.input_tokens} input tokens in ${ended.body.usage.calls} calls, ` +
          `the fake counted ${counted} in ${fake.requests.length}`,
      );
    return { calls: fake.requests.length, perResult: counted / results, cached: cached / counted };
  };
  console.log(
    `\ninput tokens per result (the fake counts chars/4), ${TOKEN_RECORDS} records a length; ` +
      'schemes: the one above, examples/scheme-topics.json, examples/scheme-tone.json',
  );
  console.log(
    '  record chars   1 scheme   3 schemes: 1 call each   3 schemes: 1 call a record   ratio (goal ≤ 0.5)   cached',
  );
  const three = [schemeId, ...extra];
  for (const chars of RECORD_CHARS) {
    const source = await articles(chars);
    const one = await tokensPerResult(source, [schemeId], true);
    const perScheme = await tokensPerResult(source, three, false);
    const combined = await tokensPerResult(source, three, true);
    if (perScheme.calls !== 3 * TOKEN_RECORDS || combined.calls !== TOKEN_RECORDS)
      throw new Error(`${perScheme.calls} and ${combined.calls} calls, expected 3 and 1 a record`);
    console.log(
      `  ${String(chars).padStart(12)}   ${one.perResult.toFixed(0).padStart(8)}   ${perScheme.perResult
        .toFixed(0)
        .padStart(
          22,
        )}   ${combined.perResult.toFixed(0).padStart(26)}   ${(combined.perResult / perScheme.perResult).toFixed(3).padEnd(17)}   ${(combined.cached * 100).toFixed(0)}%`,
    );
  }
} finally {
  if (runtime) await stop(runtime);
  await fake.close();
  await rm(dataDir, { recursive: true, force: true });
}
