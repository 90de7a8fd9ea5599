import { getDocumentProxy } from 'unpdf';
import { IngestError } from '#lib/ingest/errors.ts';

/** A PDF opened by pdf.js. */
export type PdfDocument = Awaited<ReturnType<typeof getDocumentProxy>>;

/**
 * Opens a PDF with pdf.js (through unpdf), in the calling thread. pdf.js takes ownership of
 * (detaches) the buffer it is given and refuses Node Buffers: pass a plain Uint8Array you
 * no longer need. Throws an {@link IngestError} when the bytes are not a PDF, the PDF is
 * encrypted, or it has no pages.
 *
 * @example const doc = await openPdf(new Uint8Array(bytes));
 */
export async function openPdf(bytes: Uint8Array): Promise<PdfDocument> {
  let doc: PdfDocument;
  try {
    // verbosity 0: no console warnings about fonts pdf.js cannot load; text needs no glyphs.
    doc = await getDocumentProxy(bytes, { verbosity: 0 });
  } catch (cause) {
    throw openError(cause);
  }
  if (doc.numPages === 0) {
    await doc.loadingTask.destroy();
    throw new IngestError('The PDF has no pages');
  }
  return doc;
}

/**
 * The text of one page (whitespace runs collapsed to one space, trimmed; `''` for a page
 * without text). Throws an {@link IngestError} when the page cannot be read.
 *
 * @example const text = await pageText(doc, 1);
 */
export async function pageText(doc: PdfDocument, pageNumber: number): Promise<string> {
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
