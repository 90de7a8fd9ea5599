import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { IngestError } from '#lib/ingest/errors.ts';
import { checkPdfStreams } from '#lib/ingest/pdf-streams.ts';

/** A fragment of PDF holding one stream object: all the check looks at. */
function streamObject(dict: string, data: Uint8Array): Buffer {
  return Buffer.concat([
    Buffer.from(`%PDF-1.7\n4 0 obj\n<< ${dict} /Length ${data.length} >>\nstream\n`, 'latin1'),
    data,
    Buffer.from('\nendstream\nendobj\n', 'latin1'),
  ]);
}

/** The largest stream cap that the bytes pass (they pass any cap ≥ their largest decoded stream). */
function decodedSize(bytes: Uint8Array): number {
  let low = 0;
  let high = 1 << 20;
  while (low < high) {
    const mid = (low + high) >> 1;
    try {
      checkPdfStreams(bytes, { maxStreamBytes: mid, maxDocumentBytes: 2 ** 40 });
      high = mid;
    } catch (error) {
      if (!(error instanceof IngestError)) throw error;
      low = mid + 1;
    }
  }
  return low;
}

describe('checkPdfStreams', () => {
  it('measures each filter of a chain as a reader decodes it', () => {
    const text = Buffer.from('BT /F1 12 Tf (Hello) Tj ET');
    expect(decodedSize(streamObject('', text))).toBe(text.length);
    expect(decodedSize(streamObject('/Filter /FlateDecode', deflateSync(text)))).toBe(text.length);
    expect(decodedSize(streamObject('/Filter /AHx', Buffer.from('48 65 6c6c 6F>')))).toBe(5);
    expect(decodedSize(streamObject('/Filter /A85', Buffer.from('<~87cURDZ~>')))).toBe(5); // "Hello"
    expect(decodedSize(streamObject('/Filter /A85', Buffer.from('zz~>')))).toBe(8);
    // RunLength: 257 - 0x81 = 128 copies of one byte, then two literal bytes.
    expect(decodedSize(streamObject('/Filter /RL', Buffer.from([0x81, 0x00, 0x01, 0x41, 0x42, 0x80])))).toBe(
      130,
    );
    // The PDF reference's LZW example: 80 0B 60 50 22 0C 0C 85 01 is "-----A---B".
    const lzw = Buffer.from([0x80, 0x0b, 0x60, 0x50, 0x22, 0x0c, 0x0c, 0x85, 0x01]);
    expect(decodedSize(streamObject('/Filter /LZWDecode', lzw))).toBe(10);
    // Image codecs end the chain: text extraction never decodes them.
    expect(decodedSize(streamObject('/Filter [/FlateDecode /DCTDecode]', deflateSync(text)))).toBe(
      text.length,
    );
  });

  it('multiplies through a chain: a RunLength bomb inside Flate', () => {
    // 2 bytes of RunLength make 128; 10,000 pairs make 1.28 MB from a few hundred bytes of Flate.
    const runs = Buffer.alloc(20_000);
    for (let i = 0; i < runs.length; i += 2) runs[i] = 0x81;
    const bytes = streamObject(
      '/Filter [/FlateDecode /RunLengthDecode] /DecodeParms [null null]',
      deflateSync(runs),
    );
    expect(bytes.length).toBeLessThan(1000);
    expect(() => checkPdfStreams(bytes, { maxStreamBytes: 1_000_000, maxDocumentBytes: 2 ** 40 })).toThrow(
      'a stream inflates past',
    );
  });

  it('finds a stream whose length is indirect, and ignores corrupt data', () => {
    const data = deflateSync(Buffer.alloc(5000));
    const indirect = Buffer.concat([
      Buffer.from('4 0 obj\n<< /Filter /FlateDecode /Length 9 0 R >>\nstream\r\n', 'latin1'),
      data,
      Buffer.from('\r\nendstream\nendobj\n', 'latin1'),
    ]);
    expect(decodedSize(indirect)).toBe(5000);
    // Undecodable: counted as the bytes it is, for pdf.js to refuse or skip.
    expect(decodedSize(streamObject('/Filter /FlateDecode', Buffer.from('not deflate at all')))).toBe(18);
  });
});
