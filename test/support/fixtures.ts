import { PDFDocument, rgb, StandardFonts } from 'pdf-lib';

/**
 * Builds a PDF with one page per string, for tests. Lines (`\n`) are drawn one under another
 * in Helvetica, so text must be WinAnsi (Latin-1 and a few more characters). An empty string
 * gives a page without any text, with a grey rectangle standing in for a scanned image.
 *
 * @example const pdf = await makePdf(['Page one', '', 'Page three']);
 */
export async function makePdf(pages: string[]): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  const font = await doc.embedFont(StandardFonts.Helvetica);
  for (const text of pages) {
    const page = doc.addPage([595, 842]);
    if (text === '') {
      page.drawRectangle({ x: 50, y: 300, width: 495, height: 400, color: rgb(0.6, 0.6, 0.6) });
      continue;
    }
    text.split('\n').forEach((line, i) => {
      page.drawText(line, { x: 50, y: 792 - i * 14, size: 11, font });
    });
  }
  // No object streams: a plainer file that any reader (and qpdf) takes as is.
  return doc.save({ useObjectStreams: false });
}

/**
 * Formats rows as CSV text (RFC 4180 quoting: fields holding the delimiter, a quote or a line
 * break are quoted, quotes doubled), one row per line ending in `\n`. Encode the result as the
 * test needs (`Buffer.from(csv)`, `Buffer.from(csv, 'latin1')`...).
 *
 * @example makeCsv([['name', 'age'], ['Ann', '41']], ';') // 'name;age\nAnn;41\n'
 */
export function makeCsv(rows: string[][], delimiter = ','): string {
  const quote = (field: string) =>
    field.includes(delimiter) || /["\r\n]/.test(field) ? `"${field.replaceAll('"', '""')}"` : field;
  return rows.map((row) => `${row.map(quote).join(delimiter)}\n`).join('');
}
