import { createDeflate } from 'node:zlib';
import { PDFDocument, PDFName } from 'pdf-lib';

/**
 * Flate-compresses `size` zero bytes without holding them: zeros compress about 1000:1, so
 * a gigabyte costs a megabyte here.
 */
export async function deflatedZeros(size: number): Promise<Buffer> {
  const deflate = createDeflate({ level: 9 });
  const chunks: Buffer[] = [];
  deflate.on('data', (chunk: Buffer) => chunks.push(chunk));
  const done = new Promise((resolve, reject) => deflate.on('end', resolve).on('error', reject));
  const block = Buffer.alloc(Math.min(size, 1024 * 1024));
  for (let written = 0; written < size; written += block.length) {
    const chunk = block.subarray(0, Math.min(block.length, size - written));
    if (!deflate.write(chunk)) await new Promise((resolve) => deflate.once('drain', resolve));
  }
  deflate.end();
  await done;
  return Buffer.concat(chunks);
}

/**
 * A PDF bomb for tests: one page per entry of `pageSizes`, whose content stream is a line of
 * text followed by that many zero bytes (whitespace to a PDF reader), Flate-compressed.
 * `filters` names the stream's filter chain when the data is encoded differently.
 *
 * @example const bomb = await makePdfBomb([1024 ** 3]); // one page inflating to 1 GiB
 */
export async function makePdfBomb(pageSizes: number[]): Promise<Uint8Array> {
  const doc = await PDFDocument.create();
  for (const size of pageSizes) {
    const page = doc.addPage([595, 842]);
    const stream = doc.context.stream(await deflatedZeros(size), { Filter: 'FlateDecode' });
    page.node.set(PDFName.of('Contents'), doc.context.register(stream));
  }
  return doc.save({ useObjectStreams: false });
}
