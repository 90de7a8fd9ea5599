import type { Tracer } from '@aws-lambda-powertools/tracer';
import { CORRELATION_ATTRIBUTE } from './correlation.ts';

/**
 * X-Ray tracing with Powertools Tracer, on only where the stack turned it on (CDK context
 * `tracing`: the functions get active tracing and `POWERTOOLS_TRACE_ENABLED=true`). Off, the
 * tracer and the X-Ray SDK are never loaded: esbuild keeps the dynamic import's module
 * uninitialised, so a function without tracing pays no start-up for it.
 *
 * How a trace crosses a queue: the traced SQS client (captureClient) sends each message with
 * the caller's trace header, which SQS keeps as the message's `AWSTraceHeader`; Lambda links
 * the worker's trace to it, and the worker's subsegment per message (traced) carries the
 * upstream header as metadata and the correlation id as an annotation, so X-Ray's search
 * `annotation.correlation_id = "…"` finds every segment of one request.
 */
let loading: Promise<Tracer | undefined> | undefined;
let loaded: Tracer | undefined;
/** Known to be off (after the first {@link tracer} call): {@link traced} then waits on nothing. */
let off = false;

/** True where tracing was turned on (and only Lambda sets AWS_EXECUTION_ENV). */
export function tracingEnabled(): boolean {
  return process.env.POWERTOOLS_TRACE_ENABLED === 'true' && Boolean(process.env.AWS_EXECUTION_ENV);
}

/** The tracer, loaded on first use where tracing is on; undefined elsewhere. */
export function tracer(): Promise<Tracer | undefined> {
  if (loading) return loading;
  off = !tracingEnabled();
  loading = off
    ? Promise.resolve(undefined)
    : import('@aws-lambda-powertools/tracer').then(({ Tracer }) => {
        loaded = new Tracer({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'docsift' });
        return loaded;
      });
  return loading;
}

/**
 * An AWS SDK v3 client, instrumented when the tracer is loaded (the invocation wrappers load
 * it first, and clients are made lazily inside invocations): its calls become subsegments and
 * carry the trace header, which is how a sent message continues the trace.
 */
export function captureClient<C extends object>(client: C): C {
  return loaded ? loaded.captureAWSv3Client(client) : client;
}

/**
 * Runs `fn` in a subsegment `name` of the invocation's trace, annotated with the correlation
 * id, errors recorded; `upstream` is the trace header a queue message arrived with. Without
 * tracing, just runs `fn`.
 *
 * @example await traced('## ingest message', correlationId, () => handle(record), record.attributes.AWSTraceHeader)
 */
export function traced<R>(
  name: string,
  correlation: string | undefined,
  fn: () => Promise<R>,
  upstream?: string,
): Promise<R> {
  return off ? fn() : tracedIfOn(name, correlation, fn, upstream);
}

async function tracedIfOn<R>(
  name: string,
  correlation: string | undefined,
  fn: () => Promise<R>,
  upstream?: string,
): Promise<R> {
  const t = await tracer();
  const parent = t?.getSegment();
  if (!t || !parent) return fn();
  // A context of its own (cls-hooked, X-Ray's): batches run their records in parallel, and each
  // record's calls belong under its own subsegment.
  return t.provider.getNamespace().runPromise(async () => {
    const segment = parent.addNewSubsegment(name);
    t.setSegment(segment);
    if (correlation) segment.addAnnotation(CORRELATION_ATTRIBUTE, correlation);
    if (upstream) segment.addMetadata('upstream_trace_header', upstream);
    try {
      return await fn();
    } catch (error) {
      segment.addError(error as Error);
      throw error;
    } finally {
      segment.close();
    }
  });
}
