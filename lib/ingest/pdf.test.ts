import { readFile } from 'node:fs/promises';
import { PDFDocument } from 'pdf-lib';
import { describe, expect, it } from 'vitest';
import { IngestError } from '#lib/ingest/errors.ts';
import { extractPdf, PDF_LIMITS, type PdfPage } from '#lib/ingest/pdf.ts';
import { rejectionOf } from '#test/support/errors.ts';
import { makePdf } from '#test/support/fixtures.ts';
import { makePdfBomb } from '#test/support/pdf-bomb.ts';

const MB = 1024 * 1024;

async function allPages(bytes: Uint8Array): Promise<PdfPage[]> {
  const pdf = await extractPdf(bytes);
  const pages: PdfPage[] = [];
  for await (const page of pdf.pages) pages.push(page);
  return pages;
}

/** The reason of the IngestError a call throws. */
const reason = async (promise: Promise<unknown>) => (await rejectionOf(promise, IngestError)).reason;

describe('extractPdf', () => {
  it('reads the text of each page in order, normalizing whitespace', async () => {
    const pdf = await extractPdf(
      await makePdf(['First   page\n  second line ', 'Page two', 'Café, déjà vu']),
    );
    expect(pdf.pageCount).toBe(3);
    const pages: PdfPage[] = [];
    for await (const page of pdf.pages) pages.push(page);
    expect(pages).toEqual([
      { pageNumber: 1, text: 'First page second line' },
      { pageNumber: 2, text: 'Page two' },
      { pageNumber: 3, text: 'Café, déjà vu' },
    ]);
  });

  it('gives an empty text for a page without text, such as a scanned image', async () => {
    const pages = await allPages(await makePdf(['Before', '', 'After']));
    expect(pages.map((p) => p.text)).toEqual(['Before', '', 'After']);
  });

  it("leaves the caller's bytes intact and accepts a Buffer", async () => {
    const bytes = await makePdf(['Hello']);
    const copy = bytes.slice();
    await allPages(bytes);
    // pdf.js detaches the ArrayBuffer it is given: extractPdf must hand it a copy.
    expect(bytes.byteLength).toBe(copy.byteLength);
    expect(Buffer.from(bytes).equals(Buffer.from(copy))).toBe(true);
    expect(await allPages(bytes)).toEqual([{ pageNumber: 1, text: 'Hello' }]);
    expect(await allPages(Buffer.from(bytes))).toEqual([{ pageNumber: 1, text: 'Hello' }]);
  });

  it('extracts pages lazily and can stop early', async () => {
    const pdf = await extractPdf(await makePdf(['one', 'two', 'three']));
    for await (const page of pdf.pages) {
      expect(page).toEqual({ pageNumber: 1, text: 'one' });
      break;
    }
    await pdf.close();
    await pdf.close();
  });

  it('can be closed without reading any page', async () => {
    const pdf = await extractPdf(await makePdf(['one']));
    await pdf.close();
    expect(pdf.pageCount).toBe(1);
  });

  it('rejects a text file labelled PDF', async () => {
    const text = new TextEncoder().encode('name,city\nAnn,Oslo\n');
    expect(await reason(extractPdf(text))).toBe('The file is not a valid PDF');
  });

  it('rejects empty, truncated and corrupt bytes', async () => {
    const bytes = await makePdf(['Some text', 'More text']);
    expect(await reason(extractPdf(new Uint8Array(0)))).toBe('The file is not a valid PDF');
    expect(await reason(extractPdf(bytes.subarray(0, bytes.length / 2)))).toBe('The file is not a valid PDF');
    const corrupt = bytes.slice();
    corrupt.fill(0x41, 100, corrupt.length - 100);
    expect(await reason(extractPdf(corrupt))).toBe('The file is not a valid PDF');
  });

  it('rejects an encrypted PDF', async () => {
    const bytes = await readFile(new URL('../../test/fixtures/encrypted.pdf', import.meta.url));
    expect(await reason(extractPdf(bytes))).toBe('The PDF is encrypted (password-protected)');
  });

  it('rejects a PDF without pages', async () => {
    // pdf-lib adds a blank page on save unless told not to.
    const empty = await (await PDFDocument.create()).save({ addDefaultPage: false });
    expect(await reason(extractPdf(empty))).toBe('The PDF has no pages');
  });

  it('reads 200 pages in reasonable time (a loose sanity bound, not a benchmark)', async () => {
    const texts = Array.from(
      { length: 200 },
      (_, i) => `Page ${i + 1}\n${'lorem ipsum dolor sit amet '.repeat(8)}`,
    );
    const started = performance.now();
    const pages = await allPages(await makePdf(texts));
    expect(pages).toHaveLength(200);
    expect(pages[199]?.text).toMatch(/^Page 200 lorem ipsum/);
    expect(performance.now() - started).toBeLessThan(15_000);
  });

  describe('limits', () => {
    it('refuses a PDF bomb before pdf.js inflates it, without the process growing', async () => {
      // 512 MiB of zeros in one content stream, about 0.5 MB on disk.
      const bomb = await makePdfBomb([512 * MB]);
      expect(bomb.length).toBeLessThan(MB);
      const before = process.memoryUsage.rss();
      let peak = before;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage.rss());
      }, 5);
      try {
        expect(await reason(extractPdf(bomb))).toBe(
          'The PDF is too large once decompressed: a stream inflates past 64 MB',
        );
      } finally {
        clearInterval(sampler);
      }
      // Without the cap pdf.js holds the whole stream (and a copy while growing it).
      expect(peak - before).toBeLessThan(256 * MB);
    });

    it('caps what all streams inflate to together', async () => {
      const pdf = await makePdfBomb([600_000, 600_000, 600_000, 600_000]);
      const limits = { ...PDF_LIMITS, maxStreamBytes: MB, maxDocumentBytes: 2 * MB };
      expect(await reason(extractPdf(pdf, limits))).toBe(
        'The PDF is too large once decompressed: its streams inflate past 2 MB together',
      );
      // Under both caps the same file reads, its pages being blank.
      const roomy = { ...limits, maxDocumentBytes: 4 * MB };
      const pages: PdfPage[] = [];
      for await (const page of (await extractPdf(pdf, roomy)).pages) pages.push(page);
      expect(pages.map((p) => p.text)).toEqual(['', '', '', '']);
    });

    it('stops pdf.js at the memory limit when a stream gets past the stream check', async () => {
      // The check told to let anything through: the worker's watchdog is the second layer.
      const limits = {
        ...PDF_LIMITS,
        maxStreamBytes: 2 ** 40,
        maxDocumentBytes: 2 ** 40,
        maxMemoryBytes: 256 * MB,
      };
      expect(await reason(extractPdf(await makePdfBomb([1024 * MB]), limits))).toBe(
        'The PDF needs too much memory to read (over 256 MB)',
      );
    });

    it('stops a read that takes longer than the step timeout', async () => {
      const limits = { ...PDF_LIMITS, stepTimeoutMs: 1 };
      expect(await reason(extractPdf(await makePdf(['Hello']), limits))).toBe(
        'The PDF takes too long to read (over 0.001 s for opening it)',
      );
    });
  });
});
