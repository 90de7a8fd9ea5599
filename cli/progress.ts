import cliProgress from 'cli-progress';

/** A progress bar on stderr; a no-op where stderr is not a terminal (pipes, CI, `--json` captured). */
export type Progress = {
  update(value: number, total: number, payload?: Record<string, unknown>): void;
  stop(): void;
};

/**
 * A bar in the given cli-progress `format`: `{bar} {value}/{total}` plus any payload keys.
 * Quiet (no bar) when stderr is not a TTY, so logs and captured output stay clean.
 */
export function progressBar(format: string, payload: Record<string, unknown> = {}): Progress {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { format, stream: process.stderr, hideCursor: true, clearOnComplete: false, etaBuffer: 20 },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(value, total, more = {}) {
      if (!started) {
        bar.start(Math.max(total, 1), value, { ...payload, ...more });
        started = true;
      }
      bar.setTotal(Math.max(total, 1));
      bar.update(value, more);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Poll interval: `DOCSIFT_POLL_MS` (tests poll fast), else 500 ms. */
export const POLL_MS = Number(process.env.DOCSIFT_POLL_MS ?? 500);
