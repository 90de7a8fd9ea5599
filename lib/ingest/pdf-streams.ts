import { constants, inflateSync } from 'node:zlib';
import { IngestError } from '#lib/ingest/errors.ts';

/** Caps on what a PDF's streams may decode to. */
export type StreamLimits = {
  /** Decoded bytes one stream may reach (after its whole filter chain). */
  maxStreamBytes: number;
  /** Decoded bytes all streams of the document may reach together. */
  maxDocumentBytes: number;
};

const MB = 1024 * 1024;

/**
 * Decodes every stream of a PDF, counting and discarding the output, and throws an
 * {@link IngestError} when one stream or the document decodes past its limit. A PDF bomb (a
 * megabyte of Flate that inflates to gigabytes) is refused here, before pdf.js, which decodes
 * a stream whole into memory and would take the process with it.
 *
 * Streams are found the way a lenient reader finds them (the `stream` keyword after a
 * dictionary), not through the cross-reference table, so a stream the table hides is counted
 * too. The filters that can expand (Flate, LZW, RunLength, ASCII85, ASCIIHex, chained) are
 * decoded, each capped; image codecs (DCT, JPX, JBIG2, CCITT) end the chain, as text
 * extraction never decodes images. Undecodable data ends the chain quietly: whether the file
 * is readable is pdf.js's call. Encrypted streams look undecodable here, so this is one layer
 * of two: the extraction worker's memory and time limits are the other (lib/ingest/pdf.ts).
 *
 * @example checkPdfStreams(bytes, { maxStreamBytes: 64 * 2 ** 20, maxDocumentBytes: 512 * 2 ** 20 });
 */
export function checkPdfStreams(bytes: Uint8Array, limits: StreamLimits): void {
  const file = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let documentBytes = 0;
  for (const stream of findStreams(file)) {
    const cap = Math.min(limits.maxStreamBytes, limits.maxDocumentBytes - documentBytes);
    const decoded = decodedLength(stream.data, stream.filters, cap);
    if (decoded > cap) {
      throw new IngestError(
        cap === limits.maxStreamBytes
          ? `The PDF is too large once decompressed: a stream inflates past ${limits.maxStreamBytes / MB} MB`
          : `The PDF is too large once decompressed: its streams inflate past ${limits.maxDocumentBytes / MB} MB together`,
      );
    }
    documentBytes += decoded;
  }
}

type RawStream = { data: Buffer; filters: string[] };

const STREAM = Buffer.from('stream');
const END_STREAM = Buffer.from('endstream');

function* findStreams(file: Buffer): Generator<RawStream> {
  for (let at = file.indexOf(STREAM); at !== -1; at = file.indexOf(STREAM, at + STREAM.length)) {
    if (at >= 3 && file.toString('latin1', at - 3, at) === 'end') continue;
    const dataStart = afterEndOfLine(file, at + STREAM.length);
    if (dataStart === -1) continue;
    const dict = dictionaryBefore(file, at);
    if (dict === undefined) continue;
    const length = /\/Length\s+(\d+)(?!\s+\d+\s+R)/.exec(dict)?.[1];
    let dataEnd = length === undefined ? -1 : dataStart + Number(length);
    if (dataEnd === -1 || dataEnd > file.length) dataEnd = file.indexOf(END_STREAM, dataStart);
    if (dataEnd === -1) dataEnd = file.length;
    yield { data: file.subarray(dataStart, dataEnd), filters: filterNames(dict) };
  }
}

/** The offset after `stream`'s line end (spaces allowed before it), or -1 if `stream` is not the keyword. */
function afterEndOfLine(file: Buffer, from: number): number {
  let i = from;
  while (file[i] === 0x20 || file[i] === 0x09) i++;
  if (file[i] === 0x0d) return file[i + 1] === 0x0a ? i + 2 : i + 1;
  if (file[i] === 0x0a) return i + 1;
  return -1;
}

/** The text of the dictionary that ends right before `stream` (comments and whitespace between allowed). */
function dictionaryBefore(file: Buffer, streamAt: number): string | undefined {
  const end = file.lastIndexOf('>>', streamAt);
  if (end === -1 || streamAt - end > 1024) return undefined;
  // Walk back to the matching `<<`, through nested dictionaries (DecodeParms...).
  let depth = 0;
  for (let i = end + 1; i >= Math.max(1, end - 65_536); i--) {
    if (file[i] === 0x3e && file[i - 1] === 0x3e) {
      depth++;
      i--;
    } else if (file[i] === 0x3c && file[i - 1] === 0x3c) {
      depth--;
      i--;
      if (depth === 0) return file.toString('latin1', i, end + 2);
    }
  }
  return undefined;
}

const FILTER_ABBREVIATIONS: Record<string, string> = {
  Fl: 'FlateDecode',
  LZW: 'LZWDecode',
  RL: 'RunLengthDecode',
  A85: 'ASCII85Decode',
  AHx: 'ASCIIHexDecode',
};

function filterNames(dict: string): string[] {
  const match = /\/Filter\s*(?:\/([A-Za-z0-9]+)|\[([^\]]*)\])/.exec(dict);
  if (!match) return [];
  const names = match[1] ? [match[1]] : [...(match[2] ?? '').matchAll(/\/([A-Za-z0-9]+)/g)].map((m) => m[1]!);
  return names.map((name) => FILTER_ABBREVIATIONS[name] ?? name);
}

/** A decoder's output went past its cap. */
class TooLarge extends Error {}

/** The decoded length of the data through its filters, or `cap + 1` once past the cap. */
function decodedLength(data: Buffer, filters: string[], cap: number): number {
  let current = data;
  try {
    for (const filter of filters) {
      const decode = DECODERS[filter];
      if (!decode) break;
      current = decode(current, cap);
    }
  } catch (error) {
    if (error instanceof TooLarge) return cap + 1;
    // Corrupt data: pdf.js decides what to make of it; the data counts as it stands.
  }
  return current.length;
}

/** Collects output up to a cap, throwing {@link TooLarge} past it. */
class Output {
  private readonly chunks: Buffer[] = [];
  private pending: number[] = [];
  length = 0;
  constructor(private readonly cap: number) {}
  byte(value: number): void {
    this.pending.push(value);
    if (++this.length > this.cap) throw new TooLarge();
    if (this.pending.length === 65_536) this.flush();
  }
  bytes(values: Uint8Array): void {
    this.flush();
    this.length += values.length;
    if (this.length > this.cap) throw new TooLarge();
    this.chunks.push(Buffer.from(values));
  }
  private flush(): void {
    if (this.pending.length === 0) return;
    this.chunks.push(Buffer.from(this.pending));
    this.pending = [];
  }
  result(): Buffer {
    this.flush();
    return Buffer.concat(this.chunks);
  }
}

const DECODERS: Record<string, (data: Buffer, cap: number) => Buffer> = {
  FlateDecode(data, cap) {
    try {
      // Sync flush: PDFs often end a Flate stream early, which pdf.js tolerates.
      return inflateSync(data, { maxOutputLength: cap + 1, finishFlush: constants.Z_SYNC_FLUSH });
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new TooLarge();
      throw error;
    }
  },
  RunLengthDecode(data, cap) {
    const out = new Output(cap);
    for (let i = 0; i < data.length; ) {
      const n = data[i++]!;
      if (n === 128) break;
      if (n < 128) {
        out.bytes(data.subarray(i, i + n + 1));
        i += n + 1;
      } else {
        for (let k = 0; k < 257 - n; k++) out.byte(data[i] ?? 0);
        i++;
      }
    }
    return out.result();
  },
  ASCIIHexDecode(data, cap) {
    const hex = data
      .toString('latin1')
      .split('>')[0]!
      .replace(/[^0-9a-fA-F]/g, '');
    return checked(Buffer.from(hex.length % 2 ? `${hex}0` : hex, 'hex'), cap);
  },
  ASCII85Decode(data, cap) {
    const text = data
      .toString('latin1')
      .replace(/^\s*<~/, '')
      .split('~>')[0]!
      .replace(/\s/g, '');
    const out = new Output(cap);
    let group: number[] = [];
    const emit = (values: number[], keep: number) => {
      let n = 0;
      for (let k = 0; k < 5; k++) n = n * 85 + (values[k] ?? 84);
      for (let k = 0; k < keep; k++) out.byte((n >>> (24 - 8 * k)) & 0xff);
    };
    for (const char of text) {
      if (char === 'z' && group.length === 0) {
        for (let k = 0; k < 4; k++) out.byte(0);
        continue;
      }
      const code = char.charCodeAt(0) - 33;
      if (code < 0 || code > 84) throw new Error('invalid ASCII85');
      group.push(code);
      if (group.length === 5) {
        emit(group, 4);
        group = [];
      }
    }
    if (group.length > 1) emit(group, group.length - 1);
    return out.result();
  },
  LZWDecode(data, cap) {
    const out = new Output(cap);
    const table: Buffer[] = Array.from({ length: 258 }, (_, i) => Buffer.of(i));
    let codeLength = 9;
    let previous: Buffer | undefined;
    let buffer = 0;
    let bits = 0;
    for (const byte of data) {
      buffer = ((buffer << 8) | byte) & 0xffffff;
      bits += 8;
      while (bits >= codeLength) {
        const code = (buffer >>> (bits - codeLength)) & ((1 << codeLength) - 1);
        bits -= codeLength;
        if (code === 257) return out.result();
        if (code === 256) {
          table.length = 258;
          codeLength = 9;
          previous = undefined;
          continue;
        }
        let entry: Buffer;
        if (code < table.length) entry = table[code]!;
        else if (code === table.length && previous)
          entry = Buffer.concat([previous, previous.subarray(0, 1)]);
        else throw new Error('invalid LZW code');
        out.bytes(entry);
        if (previous && table.length < 4096) table.push(Buffer.concat([previous, entry.subarray(0, 1)]));
        previous = entry;
        // EarlyChange 1 (the default): the code grows one entry before the table needs it.
        if (table.length + 1 >= 1 << codeLength && codeLength < 12) codeLength++;
      }
    }
    return out.result();
  },
};

function checked(buffer: Buffer, cap: number): Buffer {
  if (buffer.length > cap) throw new TooLarge();
  return buffer;
}
