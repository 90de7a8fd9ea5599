/**
 * Overhead of docsift's HTTP kit: requests per second of GET /api/v1/users/me through the local
 * runtime (API Gateway event, middy stack, JWT check, one user lookup in Postgres, schema-checked
 * response) against two anchors measured in the same run, on the same database:
 *
 * - bare: a node HTTP server answering the same JSON, nothing else (what node:http can do);
 * - fair: a hand-written node:http handler doing the same work (verify the same JWT, the same
 *   query through pg, the same JSON): what is left is the kit's own cost.
 *
 * The three are measured in turns, ROUNDS times each, so background load falls on all alike.
 * Besides requests per second, the server process's CPU time per request (from /proc, Linux
 * only): on a machine busy with other work, throughput follows the scheduler, CPU per request
 * much less.
 *
 *   npm run bench            (DURATION=5 ROUNDS=3 CONNECTIONS=10 to change the load;
 *                             PROFILE=1 to profile docsift and the fair anchor and print where
 *                             their time goes, PROFILE=<folder> to keep the profiles there too)
 */
import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { freePort, startEmbeddedPostgres } from '#lib/db/embedded.ts';
import { profileClock, summarizeProfile } from './cpu-profile.ts';
import { startProcess, stopProcess as stop } from './processes.ts';

const DURATION = Number(process.env.DURATION ?? 5);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 10);
const PROFILE = Boolean(process.env.PROFILE);

/** A process's CPU time so far (user + system) in milliseconds, from /proc; undefined elsewhere. */
async function cpuMs(pid: number | undefined): Promise<number | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  // utime and stime (fields 14 and 15, in clock ticks of 10 ms), after the parenthesized name.
  const fields = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
  return fields ? (Number(fields[11]) + Number(fields[12])) * 10 : undefined;
}

type Measured = { rps: number; cpuPerRequest: number | undefined };

async function measure(
  url: string,
  headers: Record<string, string>,
  duration: number,
  pid?: number,
): Promise<Measured> {
  const before = await cpuMs(pid);
  const result = await autocannon({ url, headers, connections: CONNECTIONS, duration });
  const after = await cpuMs(pid);
  if (result.non2xx > 0 || result.errors > 0)
    throw new Error(`${url}: ${result.non2xx} non-2xx, ${result.errors} errors`);
  const cpuPerRequest =
    before === undefined || after === undefined ? undefined : (after - before) / result.requests.total;
  return { rps: result.requests.average, cpuPerRequest };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

const dir = await mkdtemp(path.join(tmpdir(), 'docsift-bench-'));
// Run as root, Postgres runs as user postgres and must reach its folder.
await chmod(dir, 0o755);
const database = await startEmbeddedPostgres(path.join(dir, 'db'));
const secretKey = randomBytes(32).toString('base64url');
/** With PROFILE, the environment that makes a process write a CPU profile into `name`'s folder. */
const profiled = (name: string): Record<string, string> =>
  PROFILE ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${path.join(dir, 'profile', name)}` } : {};
const apiPort = await freePort();
const api = `http://127.0.0.1:${apiPort}`;
const runtime = await startProcess(
  ['lib/local/main.ts'],
  {
    PORT: String(apiPort),
    DATA_DIR: path.join(dir, 'data'),
    DATABASE_URL: database.url,
    SECRET_KEY: secretKey,
    FIRST_SUPERUSER: 'bench@example.com',
    FIRST_SUPERUSER_PASSWORD: 'bench-password',
    LOG_LEVEL: 'ERROR',
    ...profiled('docsift'),
  },
  `${api}/api/v1/healthz`,
);
const anchors: Awaited<ReturnType<typeof startProcess>>[] = [];
let measured: [number, number] | undefined;
try {
  const login = await fetch(`${api}/api/v1/login/access-token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'username=bench%40example.com&password=bench-password',
  });
  const { access_token } = (await login.json()) as { access_token: string };
  const headers = { authorization: `Bearer ${access_token}` };
  const me = await (await fetch(`${api}/api/v1/users/me`, { headers })).text();

  const [barePort, fairPort] = [await freePort(), await freePort()];
  anchors.push(
    await startProcess(
      ['bench/servers/bare.ts'],
      { PORT: String(barePort), BODY: me },
      `http://127.0.0.1:${barePort}/`,
    ),
    await startProcess(
      ['bench/servers/fair.ts'],
      { PORT: String(fairPort), DATABASE_URL: database.url, SECRET_KEY: secretKey, ...profiled('fair') },
      `http://127.0.0.1:${fairPort}/`,
    ),
  );
  const servers = {
    docsift: { url: `${api}/api/v1/users/me`, pid: runtime.pid },
    bare: { url: `http://127.0.0.1:${barePort}/`, pid: anchors[0]!.pid },
    fair: { url: `http://127.0.0.1:${fairPort}/`, pid: anchors[1]!.pid },
  };
  // The fair anchor must answer what docsift answers, or it is not doing the same work.
  const fair = await (await fetch(servers.fair.url, { headers })).json();
  if (JSON.stringify(fair) !== JSON.stringify(JSON.parse(me))) {
    throw new Error(`The fair anchor answers ${JSON.stringify(fair)}, docsift ${me}`);
  }

  // A short warm-up each, so JIT and connection pools are in steady state.
  for (const { url } of Object.values(servers)) await measure(url, headers, 2);
  const runs: Record<keyof typeof servers, Measured[]> = { docsift: [], bare: [], fair: [] };
  const from = profileClock();
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of Object.keys(servers) as (keyof typeof servers)[]) {
      runs[name].push(await measure(servers[name].url, headers, DURATION, servers[name].pid));
    }
  }
  measured = [from, profileClock()];
  const rps = (name: keyof typeof servers) => median(runs[name].map((run) => run.rps));
  const cpu = (name: keyof typeof servers) => {
    const values = runs[name].flatMap((run) => (run.cpuPerRequest === undefined ? [] : [run.cpuPerRequest]));
    return values.length > 0 ? median(values) : undefined;
  };
  const line = (label: string, name: keyof typeof servers) => {
    const perRequest = cpu(name);
    const cpuText = perRequest === undefined ? '' : `, ${(perRequest * 1000).toFixed(0)} µs CPU a request`;
    console.log(`${label.padEnd(55)} ${rps(name).toFixed(0).padStart(6)} req/s${cpuText}`);
  };
  line('GET /api/v1/users/me through the local runtime:', 'docsift');
  line('fair anchor, node:http + jsonwebtoken + pg, same work:', 'fair');
  line('bare anchor, node:http answering the same JSON:', 'bare');
  console.log(
    `ratio (docsift / fair): ${(rps('docsift') / rps('fair')).toFixed(3)}   ` +
      `ratio (docsift / bare): ${(rps('docsift') / rps('bare')).toFixed(3)}`,
  );
  const [kitCpu, fairCpu] = [cpu('docsift'), cpu('fair')];
  if (kitCpu && fairCpu) console.log(`CPU a request, fair / docsift: ${(fairCpu / kitCpu).toFixed(3)}`);
  console.log(`(medians of ${ROUNDS} rounds of ${DURATION} s each, ${CONNECTIONS} connections)`);
} finally {
  for (const anchor of anchors) await stop(anchor);
  await stop(runtime);
  if (PROFILE) {
    for (const name of ['docsift', 'fair']) {
      // The main thread's profile (tsx's loader thread writes one too).
      const [file] = (await readdir(path.join(dir, 'profile', name))).sort();
      console.log(
        `\nWhere ${name} spends its CPU under load (self time; run without PROFILE for the ratios):`,
      );
      console.log(await summarizeProfile(path.join(dir, 'profile', name, file!), measured));
    }
  }
  await database.stop();
  // PROFILE=<folder> keeps the profiles there, for Chrome DevTools or speedscope.
  if (PROFILE && process.env.PROFILE !== '1') {
    await cp(path.join(dir, 'profile'), path.resolve(process.env.PROFILE!), { recursive: true });
  }
  await rm(dir, { recursive: true, force: true });
}
