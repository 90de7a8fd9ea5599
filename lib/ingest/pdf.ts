import { getDocumentProxy } from 'unpdf';
import { IngestError } from '#lib/ingest/errors.ts';

export type PdfPage = { pageNumber: number; text: string };

export type PdfFile = {
  pageCount: number;
  /**
   * The pages in order, each extracted when the iteration reaches it and released after, so
   * only one page's text and objects are held at a time. A page without text (a scanned
   * image) gives `''`: whether that is an error is the caller's call.
   */
  pages: AsyncGenerator<PdfPage>;
  /** Frees the document; automatic once `pages` ends, needed only when it is never iterated. Idempotent. */
  close(): Promise<void>;
};

type PdfDocument = Awaited<ReturnType<typeof getDocumentProxy>>;

/**
 * Opens a PDF and returns its page count and a generator of page texts (whitespace runs
 * collapsed to one space, trimmed). The document is parsed once; its pages are read one at
 * a time as `pages` is iterated, so a 500-page PDF never holds all of its text at once (the
 * file's bytes themselves stay in memory, as pdf.js needs random access to them).
 * `bytes` is copied: pdf.js takes ownership of (detaches) the buffer it is given, which would
 * empty the caller's array, and refuses Node Buffers.
 *
 * Throws an {@link IngestError} when the bytes are not a PDF, the PDF is encrypted, or it has
 * no pages; `pages` throws one when a page cannot be read.
 *
 * @example
 * const pdf = await extractPdf(bytes);
 * for await (const { pageNumber, text } of pdf.pages) insert(pageNumber, text);
 */
export async function extractPdf(bytes: Uint8Array): Promise<PdfFile> {
  let doc: PdfDocument;
  try {
    // verbosity 0: no console warnings about fonts pdf.js cannot load; text needs no glyphs.
    doc = await getDocumentProxy(new Uint8Array(bytes), { verbosity: 0 });
  } catch (cause) {
    throw openError(cause);
  }
  let closed: Promise<void> | undefined;
  const close = () => {
    closed ??= doc.loadingTask.destroy();
    return closed;
  };
  if (doc.numPages === 0) {
    await close();
    throw new IngestError('The PDF has no pages');
  }
  return { pageCount: doc.numPages, pages: readPages(doc, close), close };
}

async function* readPages(doc: PdfDocument, close: () => Promise<void>): AsyncGenerator<PdfPage> {
  try {
    for (let pageNumber = 1; pageNumber <= doc.numPages; pageNumber++) {
      yield { pageNumber, text: await pageText(doc, pageNumber) };
    }
  } finally {
    await close();
  }
}

async function pageText(doc: PdfDocument, pageNumber: number): Promise<string> {
  try {
    const page = await doc.getPage(pageNumber);
    const content = await page.getTextContent();
    // Items are runs of text; hasEOL marks a line end with no space item after it.
    const text = content.items
      .map((item) => ('str' in item ? item.str + (item.hasEOL ? ' ' : '') : ''))
      .join('');
    page.cleanup();
    return normalizeText(text);
  } catch (cause) {
    throw new IngestError(`The PDF cannot be read at page ${pageNumber}`, { cause });
  }
}

/** Whitespace runs (line breaks too) become one space; NULs go too, as Postgres text refuses them. */
function normalizeText(text: string): string {
  return text.replace(/[\s\0]+/g, ' ').trim();
}

/** pdf.js's exceptions for files it cannot parse (worker errors reach us wrapped as UnknownErrorException). */
const INVALID_PDF = new Set([
  'InvalidPDFException',
  'FormatError',
  'XRefParseException',
  'UnknownErrorException',
]);

/** The file's faults become IngestErrors; anything else (pdf.js failing to load...) passes through. */
function openError(cause: unknown): unknown {
  const name = (cause as { name?: unknown } | undefined)?.name;
  if (name === 'PasswordException')
    return new IngestError('The PDF is encrypted (password-protected)', { cause });
  if (typeof name === 'string' && INVALID_PDF.has(name))
    return new IngestError('The file is not a valid PDF', { cause });
  return cause;
}
