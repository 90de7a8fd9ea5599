/**
 * Overhead of docsift's HTTP kit: requests per second of GET /api/v1/users/me through the local
 * runtime (API Gateway event, middy stack, JWT check, one user lookup in Postgres, schema-checked
 * response) against a bare node HTTP server answering the same JSON, measured in the same run.
 *
 *   npm run bench            (DURATION=10 CONNECTIONS=10 to change the load)
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { freePort } from '#lib/db/embedded.ts';
import { startProcess, stopProcess as stop } from './processes.ts';

const DURATION = Number(process.env.DURATION ?? 10);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 10);

async function measure(url: string, headers: Record<string, string>): Promise<number> {
  // A short warm-up, so JIT and connection pools are in steady state.
  await autocannon({ url, headers, connections: CONNECTIONS, duration: 2 });
  const result = await autocannon({ url, headers, connections: CONNECTIONS, duration: DURATION });
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  return result.requests.average;
}

const dataDir = await mkdtemp(path.join(tmpdir(), 'docsift-bench-'));
await chmod(dataDir, 0o755);
const apiPort = await freePort();
const api = `http://127.0.0.1:${apiPort}`;
const runtime = await startProcess(
  ['lib/local/main.ts'],
  {
    PORT: String(apiPort),
    DATA_DIR: dataDir,
    FIRST_SUPERUSER: 'bench@example.com',
    FIRST_SUPERUSER_PASSWORD: 'bench-password',
    LOG_LEVEL: 'ERROR',
  },
  `${api}/api/v1/healthz`,
);
try {
  const login = await fetch(`${api}/api/v1/login/access-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'username=bench%40example.com&password=bench-password',
  });
  const { access_token } = (await login.json()) as { access_token: string };
  const headers = { authorization: `Bearer ${access_token}` };
  const me = await (await fetch(`${api}/api/v1/users/me`, { headers })).text();

  const barePort = await freePort();
  const bare = await startProcess(
    ['bench/servers/bare.ts'],
    { PORT: String(barePort), BODY: me },
    `http://127.0.0.1:${barePort}/`,
  );
  let bareRps: number;
  try {
    bareRps = await measure(`http://127.0.0.1:${barePort}/`, headers);
  } finally {
    await stop(bare);
  }
  const kitRps = await measure(`${api}/api/v1/users/me`, headers);

  console.log(`GET /api/v1/users/me through the local runtime: ${kitRps.toFixed(0)} req/s`);
  console.log(`bare node HTTP server, same JSON (anchor):      ${bareRps.toFixed(0)} req/s`);
  console.log(
    `ratio (docsift / bare): ${(kitRps / bareRps).toFixed(3)}  (${CONNECTIONS} connections, ${DURATION} s each)`,
  );
} finally {
  await stop(runtime);
  await rm(dataDir, { recursive: true, force: true });
}
