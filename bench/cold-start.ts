/**
 * Cold start of every Lambda function: each bundle built as the CDK app builds it
 * (infra/bundling.ts), its size, and the time a fresh Node process takes to import it (Lambda's
 * INIT phase: module loading and top-level initialization), against an anchor bundled the same
 * way in the same run: a handler with the same logger and nothing else (bench/cold-anchor.ts).
 *
 *   npm run bench:cold            (ROUNDS=9 for steadier medians, ONLY=users to build one area)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BundleSize, bundleFunction, bundleSize, functionEntries } from '#infra/bundling.ts';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
/** The goal of issue 11 for a route function: what it loads at a cold start, and how long that takes. */
const MAX_ROUTE_BYTES = 1_000_000;
const MAX_ROUTE_IMPORT_MS = 150;

/** What a Lambda function's process sees at INIT; nothing is reached while importing. */
const LAMBDA_ENV = {
  PATH: process.env.PATH ?? '',
  AWS_REGION: 'us-east-1',
  AWS_LAMBDA_FUNCTION_NAME: 'bench-cold',
  PLATFORM: 'aws',
  LOG_LEVEL: 'INFO',
  DATABASE_URL: 'postgres://docsift:unused@127.0.0.1:9/docsift',
  SECRET_KEY: 'k'.repeat(40),
  UPLOADS_BUCKET: 'bench-cold',
  INGEST_QUEUE: 'bench-cold',
};

/** Imports a bundle in a fresh Node process: wall and CPU milliseconds of the import alone. */
function importOnce(file: string): { wallMs: number; cpuMs: number } {
  const script = `
    const cpu = process.cpuUsage();
    const start = performance.now();
    await import(process.argv[1]);
    const wallMs = performance.now() - start;
    const used = process.cpuUsage(cpu);
    process.stdout.write(JSON.stringify({ wallMs, cpuMs: (used.user + used.system) / 1000 }));`;
  const out = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', script, pathToFileURL(file).href],
    {
      env: LAMBDA_ENV,
    },
  );
  return JSON.parse(out.toString()) as { wallMs: number; cpuMs: number };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;
const mb = (bytes: number) => (bytes / 1e6).toFixed(2);

type Measured = {
  name: string;
  routes: number;
  kind: string;
  size: BundleSize;
  file: string;
  wall: number[];
  cpu: number[];
};

const outdir = mkdtempSync(path.join(tmpdir(), 'docsift-bench-cold-'));
try {
  const only = process.env.ONLY;
  const entries = [
    { entry: 'bench/cold-anchor.ts', kind: 'anchor', routes: 0 },
    ...functionEntries().filter(({ entry }) => !only || entry.includes(only)),
  ];
  const bundles: Measured[] = [];
  const started = performance.now();
  for (const { entry, kind, routes } of entries) {
    const name = entry.replace(/^(functions|bench)\//, '').replace(/\.ts$/, '');
    const dir = path.join(outdir, name);
    const size = bundleSize(bundleFunction(entry, dir));
    bundles.push({ name, routes, kind, size, file: path.join(dir, 'index.mjs'), wall: [], cpu: [] });
  }
  const buildSeconds = (performance.now() - started) / 1000;
  // Round-robin, anchor first in each round, so background load drifts over all of them alike.
  for (let round = 0; round < ROUNDS; round++) {
    for (const bundle of bundles) {
      const { wallMs, cpuMs } = importOnce(bundle.file);
      bundle.wall.push(wallMs);
      bundle.cpu.push(cpuMs);
    }
  }

  const anchor = bundles[0]!;
  const anchorCpu = median(anchor.cpu);
  console.log(
    `Node ${process.version}, ${ROUNDS} imports each (medians), load average ${loadavg()[0]!.toFixed(1)}; ` +
      `${bundles.length} bundles built in ${buildSeconds.toFixed(0)} s`,
  );
  console.log(
    `${'function'.padEnd(32)} ${'routes'.padStart(6)} ${'start MB'.padStart(8)} ${'lazy MB'.padStart(8)} ` +
      `${'import ms'.padStart(9)} ${'cpu ms'.padStart(7)} ${'cpu × anchor'.padStart(12)}`,
  );
  const misses: string[] = [];
  for (const b of bundles) {
    const [wall, cpu] = [median(b.wall), median(b.cpu)];
    console.log(
      `${b.name.padEnd(32)} ${String(b.routes || '').padStart(6)} ${mb(b.size.initialBytes).padStart(8)} ` +
        `${mb(b.size.lazyBytes).padStart(8)} ${wall.toFixed(0).padStart(9)} ${cpu.toFixed(0).padStart(7)} ` +
        `${(cpu / anchorCpu).toFixed(1).padStart(12)}`,
    );
    if (b.kind !== 'routes') continue;
    if (b.size.initialBytes > MAX_ROUTE_BYTES)
      misses.push(`${b.name}: ${mb(b.size.initialBytes)} MB at start`);
    if (cpu > MAX_ROUTE_IMPORT_MS) misses.push(`${b.name}: ${cpu.toFixed(0)} ms of CPU to import`);
  }
  // Judged by CPU time: on a machine busy with other work, wall time is mostly waiting for a
  // core, while the CPU time stays about what an idle machine's wall time is.
  console.log(
    `\nGoal for route functions: ≤ ${MAX_ROUTE_BYTES / 1e6} MB loaded at start, ≤ ${MAX_ROUTE_IMPORT_MS} ms to import ` +
      `(CPU time; the anchor takes ${anchorCpu.toFixed(0)} ms here). ` +
      (misses.length === 0 ? 'Every route function meets it.' : `Missed: ${misses.join('; ')}.`),
  );
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
