import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import type { PgBoss } from 'pg-boss';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runEventSource } from '#lib/local/event-source.ts';
import {
  HEARTBEAT_SECONDS,
  PgBossQueueSender,
  PgBossQueueSource,
  startPgBoss,
} from '#lib/ports/queue/pgboss.ts';
import { deadLetterQueueOf } from '#lib/ports/queue/queue.ts';
import { sqsBatchWorker } from '#lib/workers/batch.ts';
import { createTestDatabase } from '#test/support/database.ts';

// Several pollers in one process, as the local runtime runs them, each handing its batch to the
// same worker: a failure in one batch must never be reported as a success by another.

let database: Awaited<ReturnType<typeof createTestDatabase>>;
let boss: PgBoss;
const QUEUE = 'batches';

beforeAll(async () => {
  database = await createTestDatabase();
  boss = await startPgBoss(database.url, [QUEUE], {
    maxReceiveCount: 3,
    visibilityTimeoutSeconds: 60,
    retryDelaySeconds: 0,
  });
});
afterAll(async () => {
  await boss.stop({ graceful: false });
  await database.drop();
});

it('brings back every failed message of concurrent batches until it is dead-lettered', async () => {
  const messages = Array.from({ length: 60 }, (_, i) => ({ n: i, fail: i % 3 === 0 }));
  const deliveries = new Map<number, number>();
  const handled = new Set<number>();
  const deadLettered: number[] = [];
  const worker = sqsBatchWorker(async (record) => {
    const { n, fail } = JSON.parse(record.body) as { n: number; fail: boolean };
    deliveries.set(n, (deliveries.get(n) ?? 0) + 1);
    // Uneven work, so the batches of different pollers interleave.
    await sleep(5 + ((n * 7) % 20));
    if (fail) throw new Error(`message ${n} fails`);
    handled.add(n);
  });
  const deadLetters = sqsBatchWorker(async (record) => {
    deadLettered.push((JSON.parse(record.body) as { n: number }).n);
  });
  await new PgBossQueueSender(boss).send(QUEUE, messages);
  const pollers = [
    ...Array.from({ length: 4 }, () =>
      runEventSource(new PgBossQueueSource(QUEUE, boss), worker, {
        batchSize: 5,
        functionName: 'w',
        idleDelayMs: 20,
      }),
    ),
    runEventSource(new PgBossQueueSource(deadLetterQueueOf(QUEUE), boss), deadLetters, {
      batchSize: 10,
      functionName: 'dl',
      idleDelayMs: 20,
    }),
  ];
  const failing = messages.filter((m) => m.fail).map((m) => m.n);
  try {
    const deadline = Date.now() + 20_000;
    while (deadLettered.length < failing.length && Date.now() < deadline) await sleep(50);
  } finally {
    await Promise.all(pollers.map((p) => p.stop()));
  }
  expect(deadLettered.sort((a, b) => a - b)).toEqual(failing);
  for (const n of failing) expect(deliveries.get(n), `deliveries of ${n}`).toBe(3);
  expect(handled.size).toBe(messages.length - failing.length);

  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: number; state: string }>(
      `SELECT (data->>'body')::jsonb->>'n' AS n, state::text FROM pgboss.job WHERE name = $1`,
      [QUEUE],
    );
    const stateOf = new Map(rows.map((r) => [Number(r.n), r.state]));
    for (const m of messages) expect(stateOf.get(m.n), `job of ${m.n}`).toBe(m.fail ? 'failed' : 'completed');
  } finally {
    await client.end();
  }
}, 40_000);

it('keeps a batch that outlasts the heartbeat timeout with its worker: delivered once', async () => {
  const queue = 'long-batches';
  const long = await startPgBoss(database.url, [queue], {
    maxReceiveCount: 3,
    visibilityTimeoutSeconds: 60,
    retryDelaySeconds: 0,
  });
  let deliveries = 0;
  const worker = sqsBatchWorker(async () => {
    deliveries++;
    // Past HEARTBEAT_SECONDS plus a supervisor pass: only the heartbeat keeps the job.
    await sleep((HEARTBEAT_SECONDS + 6) * 1000);
  });
  await new PgBossQueueSender(long).send(queue, [{ slow: true }]);
  const pollers = Array.from({ length: 2 }, () =>
    runEventSource(new PgBossQueueSource(queue, long), worker, {
      batchSize: 1,
      functionName: 'w',
      idleDelayMs: 50,
    }),
  );
  try {
    while (deliveries === 0) await sleep(50);
    await sleep((HEARTBEAT_SECONDS + 8) * 1000);
  } finally {
    await Promise.all(pollers.map((p) => p.stop()));
    await long.stop({ graceful: false });
  }
  expect(deliveries).toBe(1);
}, 60_000);
