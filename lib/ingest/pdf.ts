import { isMainThread, type MessagePort, parentPort, Worker, workerData } from 'node:worker_threads';
import { IngestError } from '#lib/ingest/errors.ts';
import { openPdf, type PdfDocument, pageText } from '#lib/ingest/pdf-document.ts';
import { checkPdfStreams, type StreamLimits } from '#lib/ingest/pdf-streams.ts';

export type PdfPage = { pageNumber: number; text: string };

export type PdfFile = {
  pageCount: number;
  /**
   * The pages in order, each extracted when the iteration reaches it, so only one page's
   * text is held at a time. A page without text (a scanned image) gives `''`: whether that
   * is an error is the caller's call.
   */
  pages: AsyncGenerator<PdfPage>;
  /** Stops the extraction worker; automatic once `pages` ends, needed only when it is never iterated. Idempotent. */
  close(): Promise<void>;
};

/** What one PDF may cost to read. */
export type PdfLimits = StreamLimits & {
  /** V8 heap plus buffers (pdf.js's decoded streams are buffers) of the extraction worker. */
  maxMemoryBytes: number;
  /** Wall-clock time for opening the file, and again for each page. */
  stepTimeoutMs: number;
};

const MB = 1024 * 1024;

/**
 * Sized for the ingest function (2 GB, a batch of several files): a real content stream is
 * kilobytes to a few megabytes; 64 MB of decoded operators is already an unreadable page.
 */
export const PDF_LIMITS: PdfLimits = {
  maxStreamBytes: 64 * MB,
  maxDocumentBytes: 512 * MB,
  maxMemoryBytes: 768 * MB,
  stepTimeoutMs: 60_000,
};

/**
 * Opens a PDF and returns its page count and a generator of page texts (whitespace runs
 * collapsed to one space, trimmed).
 *
 * The work happens in a worker thread, so a hostile file cannot take the process (the API,
 * in the local runtime) with it: its streams are first decoded with caps (a PDF bomb fails
 * here, see {@link checkPdfStreams}), then pdf.js reads it under a heap limit, a watchdog on
 * heap plus buffers, and a timeout per step. Each ends the worker and fails with an
 * {@link IngestError} that says which limit the file hit. `bytes` is copied; the caller's
 * array stays intact.
 *
 * Throws an {@link IngestError} when the bytes are not a PDF, the PDF is encrypted, has no
 * pages, or is over a limit; `pages` throws one when a page cannot be read.
 *
 * @example
 * const pdf = await extractPdf(bytes);
 * for await (const { pageNumber, text } of pdf.pages) insert(pageNumber, text);
 */
export async function extractPdf(bytes: Uint8Array, limits: PdfLimits = PDF_LIMITS): Promise<PdfFile> {
  const worker = new PdfWorker(limits);
  const copy = new Uint8Array(bytes);
  let pageCount: number;
  try {
    pageCount = (await worker.request({ type: 'open', bytes: copy }, [copy.buffer])) as number;
  } catch (error) {
    await worker.close();
    throw error;
  }
  return { pageCount, pages: readPages(worker, pageCount), close: () => worker.close() };
}

async function* readPages(worker: PdfWorker, pageCount: number): AsyncGenerator<PdfPage> {
  try {
    for (let pageNumber = 1; pageNumber <= pageCount; pageNumber++) {
      const text = (await worker.request({ type: 'page', pageNumber })) as string;
      yield { pageNumber, text };
    }
  } finally {
    await worker.close();
  }
}

type Request = { type: 'open'; bytes: Uint8Array } | { type: 'page'; pageNumber: number };
type Reply =
  | { ok: true; value: unknown }
  | { ok: false; reason: string; cause?: string }
  | { ok: false; reason?: undefined; name: string; message: string };

/** workerData key that makes this module, loaded in a worker, serve extractions. */
const WORKER_KEY = 'docsiftPdfWorker';

/**
 * One extraction worker: requests go one at a time, each under the step timeout; a watchdog
 * polls the worker's heap and buffers. The worker runs this very module: under tsx (local
 * runtime, tests) that is pdf.ts with tsx's loader; in a Lambda bundle it is the bundle
 * itself, which holds this module, so no second file has to be shipped.
 */
class PdfWorker {
  private readonly worker: Worker;
  private pending?: { resolve(value: unknown): void; reject(error: unknown): void };
  private failure?: unknown;
  private closed?: Promise<void>;
  private readonly watchdog: NodeJS.Timeout;

  constructor(private readonly limits: PdfLimits) {
    const url = new URL(import.meta.url);
    this.worker = new Worker(url, {
      workerData: { [WORKER_KEY]: limits },
      // The heap limit ends the worker with ERR_WORKER_OUT_OF_MEMORY; buffers are outside
      // the heap, hence the watchdog as well.
      resourceLimits: { maxOldGenerationSizeMb: Math.ceil(limits.maxMemoryBytes / MB) },
      // Not the parent's flags (`-e`, `--input-type`... would apply to this entry too); tsx's
      // loader when running from source.
      execArgv: url.pathname.endsWith('.ts') ? ['--import', 'tsx'] : [],
    });
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => this.settle(reply));
    this.worker.on('error', (error) =>
      this.fail(
        (error as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY' ? memoryError(limits, error) : error,
      ),
    );
    this.worker.on('exit', (code) => this.fail(new Error(`The PDF worker exited (code ${code})`)));
    this.watchdog = setInterval(() => void this.checkMemory(), 100).unref();
  }

  /** Sends one request and waits for its reply, within the step timeout. */
  request(message: Request, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.failure) return Promise.reject(this.failure);
    const timeout = setTimeout(() => {
      this.fail(
        new IngestError(
          `The PDF takes too long to read (over ${this.limits.stepTimeoutMs / 1000} s for ${
            message.type === 'open' ? 'opening it' : `page ${message.pageNumber}`
          })`,
        ),
      );
    }, this.limits.stepTimeoutMs);
    // Referenced while a request is pending, so a process with nothing else to do waits for it.
    this.worker.ref();
    return new Promise<unknown>((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(message, transfer);
    }).finally(() => {
      clearTimeout(timeout);
      this.worker.unref();
    });
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      clearInterval(this.watchdog);
      if (!this.failure) {
        this.failure = new Error('The PDF worker is closed');
        this.pending?.reject(this.failure);
        this.pending = undefined;
      }
      await this.worker.terminate();
    })();
    return this.closed;
  }

  private settle(reply: Reply): void {
    const pending = this.pending;
    this.pending = undefined;
    if (reply.ok) pending?.resolve(reply.value);
    else if (reply.reason !== undefined) {
      pending?.reject(new IngestError(reply.reason, reply.cause ? { cause: new Error(reply.cause) } : {}));
    } else pending?.reject(Object.assign(new Error(reply.message), { name: reply.name }));
  }

  /** Fails the pending request and every later one with `error`, and ends the worker. */
  private fail(error: unknown): void {
    if (this.failure) return;
    this.failure = error;
    this.pending?.reject(error);
    this.pending = undefined;
    void this.close();
  }

  private async checkMemory(): Promise<void> {
    if (this.failure) return;
    try {
      const heap = await this.worker.getHeapStatistics();
      const used = heap.used_heap_size + heap.external_memory;
      if (used > this.limits.maxMemoryBytes) this.fail(memoryError(this.limits));
    } catch {
      // The worker is gone: its exit event reports that.
    }
  }
}

function memoryError(limits: PdfLimits, cause?: unknown): IngestError {
  return new IngestError(
    `The PDF needs too much memory to read (over ${Math.round(limits.maxMemoryBytes / MB)} MB)`,
    cause === undefined ? {} : { cause },
  );
}

/** The worker's side: checks the streams, opens the file, then answers page requests. */
function serve(port: MessagePort, limits: PdfLimits): void {
  let doc: PdfDocument | undefined;
  port.on('message', async (message: Request) => {
    let reply: Reply;
    try {
      if (message.type === 'open') {
        checkPdfStreams(message.bytes, limits);
        doc = await openPdf(message.bytes);
        reply = { ok: true, value: doc.numPages };
      } else {
        if (!doc) throw new Error('No PDF is open');
        reply = { ok: true, value: await pageText(doc, message.pageNumber) };
      }
    } catch (error) {
      reply =
        error instanceof IngestError
          ? { ok: false, reason: error.reason, cause: String(error.cause ?? '') || undefined }
          : {
              ok: false,
              name: (error as Error)?.name ?? 'Error',
              message: (error as Error)?.message ?? String(error),
            };
    }
    port.postMessage(reply);
  });
}

if (!isMainThread && parentPort && workerData?.[WORKER_KEY]) serve(parentPort, workerData[WORKER_KEY]);
