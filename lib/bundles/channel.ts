/**
 * A bounded byte channel between a synchronous producer (fflate's callbacks) and an async
 * consumer (an upload): the producer awaits {@link drained} between steps, so at most about
 * `highWater` bytes wait in memory whatever the bundle's size.
 */
export class ByteChannel implements AsyncIterable<Uint8Array> {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private closed = false;
  private failure: unknown;
  private wakeConsumer: (() => void) | undefined;
  private wakeProducer: (() => void) | undefined;

  constructor(private readonly highWater = 8 * 1024 * 1024) {}

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    this.wakeConsumer?.();
  }

  close(error?: unknown): void {
    this.closed = true;
    this.failure = error;
    this.wakeConsumer?.();
  }

  /** Resolves once the consumer has taken the buffer below the high-water mark. */
  async drained(): Promise<void> {
    while (this.buffered > this.highWater && !this.closed) {
      await new Promise<void>((resolve) => {
        this.wakeProducer = resolve;
      });
    }
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk) {
        this.buffered -= chunk.length;
        if (this.buffered <= this.highWater) this.wakeProducer?.();
        yield chunk;
        continue;
      }
      if (this.closed) {
        if (this.failure) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => {
        this.wakeConsumer = resolve;
      });
    }
  }
}
