/** The names of `T`'s members that are methods returning a promise. */
export type AsyncMethodsOf<T> = {
  // biome-ignore lint/suspicious/noExplicitAny: any argument list; only the return type matters.
  [K in keyof T]: T[K] extends (...args: any[]) => Promise<unknown> ? K : never;
}[keyof T];

/**
 * An adapter built by its first call: `load` (a dynamic import, then `new`) runs once, when a
 * method is first called, and every call goes to what it built. The AWS adapters are built this
 * way, so a function loads an SDK client (S3, SQS, Scheduler, SES, EventBridge: a third of a
 * route's bundle) only once it uses it, never at a cold start that does not (docs/architecture.md).
 *
 * `methods` lists every async method of the port, which the type makes exhaustive: a method
 * added to the port and not here fails to compile. A failed load is tried again by the next call.
 *
 * @example
 * const queue: QueueSender = deferred(async () => new (await import('./sqs.ts')).SqsQueueSender(), { send: true });
 */
export function deferred<T extends object>(
  load: () => Promise<T>,
  methods: Record<AsyncMethodsOf<T>, true>,
): Pick<T, AsyncMethodsOf<T>> {
  let built: Promise<T> | undefined;
  const adapter = (): Promise<T> => {
    built ??= load().catch((error: unknown) => {
      built = undefined;
      throw error;
    });
    return built;
  };
  return Object.fromEntries(
    Object.keys(methods).map((name) => [
      name,
      async (...args: unknown[]) => {
        const target = (await adapter()) as Record<string, (...args: unknown[]) => Promise<unknown>>;
        return target[name]!(...args);
      },
    ]),
  ) as Pick<T, AsyncMethodsOf<T>>;
}
