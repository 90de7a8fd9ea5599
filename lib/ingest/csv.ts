import { isAscii } from 'node:buffer';
import { pipeline, Readable } from 'node:stream';
import { parse } from 'csv-parse';
import { IngestError } from '#lib/ingest/errors.ts';

/** Encodings {@link detectCsvFormat} can recognise. `latin1` is decoded as windows-1252 (its WHATWG meaning). */
export type CsvEncoding = 'utf-8' | 'utf-16le' | 'utf-16be' | 'latin1';

export type CsvFormat = { delimiter: string; encoding: CsvEncoding };

export type CsvOptions = {
  /** Field delimiter; detected from the first lines when absent. */
  delimiter?: string;
  /** A WHATWG encoding label (`utf-8`, `latin1`, `windows-1252`, `utf-16le`...); detected when absent. A byte order mark wins over it. */
  encoding?: string;
  /** Lines to skip before the header, such as a title above the table. */
  skipRows?: number;
  /** Stop after this many data rows. To reject bigger files, ask for one more than the limit and count. */
  maxRows?: number;
};

/** One data row: `rowNumber` counts data rows from 1 after the header, blank rows included. */
export type CsvRow = { rowNumber: number; values: Record<string, string> };

export type CsvFile = {
  /** Header names, trimmed and made unique: an empty one becomes `column_<position>`, a repeat `<name>_2`. */
  columns: string[];
  /**
   * The delimiter and encoding used, as given or detected. A detected `utf-8` may still turn
   * out to be windows-1252 past the sample (see {@link openCsv}); this does not say so.
   */
  format: { delimiter: string; encoding: string };
  /** The data rows, read as they are iterated; blank rows are skipped. */
  rows: AsyncGenerator<CsvRow>;
  /** Stops reading and releases the source; only needed when `rows` is not iterated to its end. */
  close(): void;
};

const DELIMITERS = [',', ';', '\t', '|'] as const;
/** Bytes read ahead for detection: enough for dozens of lines, small beside a Lambda's memory. */
const SAMPLE_BYTES = 64 * 1024;
/** Records looked at to choose the delimiter. */
const SNIFF_RECORDS = 50;
/** A longer row is almost always an unclosed quote swallowing the rest of the file. */
const MAX_ROW_BYTES = 1024 * 1024;

const notText = (detail: string) => new IngestError(`The file is not a text CSV (${detail})`);
const BINARY = 'it contains binary data; export spreadsheets as CSV';

/**
 * Guesses the encoding and delimiter of a CSV from its first bytes (64 KB is plenty; the sample
 * may end mid-line or mid-character). Encoding: a byte order mark, else UTF-8 when the bytes
 * are valid UTF-8, else latin1 (windows-1252). Delimiter: among `,` `;` tab `|`, the one that
 * splits most lines into the same number (at least 2) of fields, quotes respected; `,` when
 * none does (a one-column file). Throws an {@link IngestError} when the bytes are not text.
 *
 * @example detectCsvFormat(Buffer.from('a;b\n1;2\n')) // { delimiter: ';', encoding: 'utf-8' }
 */
export function detectCsvFormat(sample: Uint8Array): CsvFormat {
  const { encoding, text } = detectEncoding(sample.subarray(0, SAMPLE_BYTES));
  return { delimiter: sniffDelimiter(text, sample.byteLength <= SAMPLE_BYTES), encoding };
}

/**
 * Opens a CSV stream: reads ahead just enough to detect the format (unless given) and the
 * header, then returns the columns and a generator of rows that parses the rest as it is
 * iterated, so memory stays flat whatever the file size. Quoted fields may span lines, values
 * are trimmed, a UTF-8 BOM is dropped. Rows need not have as many fields as the header: missing
 * fields read as `''`, extra non-blank ones are kept under `column_<position>` keys (not in
 * `columns`). Problems with the file itself throw (from here or from `rows`) an
 * {@link IngestError}; errors of the source (network...) pass through unchanged.
 *
 * @example
 * const csv = await openCsv(s3Body, { skipRows: 1 });
 * for await (const { rowNumber, values } of csv.rows) insert(rowNumber, csvRecordText(values));
 */
export async function openCsv(source: AsyncIterable<Uint8Array>, options: CsvOptions = {}): Promise<CsvFile> {
  const input = source[Symbol.asyncIterator]();
  let parser: ReturnType<typeof parse> | undefined;
  // The line the parser has reached: where a record that fails to parse starts.
  const position = { line: 1 };
  try {
    const head = await readHead(input, SAMPLE_BYTES);
    if (head.size === 0) throw new IngestError('The CSV file is empty');
    // Copies only the sample, even when the source hands over the whole file as one chunk.
    const sample = Buffer.concat(head.chunks, Math.min(head.size, SAMPLE_BYTES));
    const format = resolveFormat(sample, head.done && head.size <= SAMPLE_BYTES, options);
    parser = parse({
      delimiter: format.delimiter,
      bom: true,
      trim: true,
      relax_column_count: true,
      relax_quotes: true,
      max_record_size: MAX_ROW_BYTES,
      on_record: (record: string[], context: { lines: number }) => {
        position.line = context.lines + 1;
        return record;
      },
    });
    const text = decodeChunks(replay(head.chunks, input), format.encoding, format.guessed);
    // Errors reach the parser (and so the reader below) through pipeline; the callback only silences them.
    pipeline(Readable.from(text), parser, () => {});
    const records = new RecordReader(parser[Symbol.asyncIterator](), position);
    await records.skip(options.skipRows ?? 0);
    const header = await records.nextNonBlank();
    if (!header) throw new IngestError('The CSV file is empty');
    const columns = uniqueNames(header);
    const p = parser;
    return {
      columns,
      format: { delimiter: format.delimiter, encoding: format.encoding },
      rows: readRows(records, columns, options.maxRows ?? Number.POSITIVE_INFINITY),
      close: () => p.destroy(),
    };
  } catch (error) {
    if (parser) parser.destroy();
    else await input.return?.();
    throw error;
  }
}

/**
 * {@link openCsv} for callers that only want the rows.
 *
 * @example for await (const row of readCsv(Readable.from([buffer]), { delimiter: ';' })) { ... }
 */
export async function* readCsv(
  source: AsyncIterable<Uint8Array>,
  options: CsvOptions = {},
): AsyncGenerator<CsvRow> {
  yield* (await openCsv(source, options)).rows;
}

/**
 * The text of the record made from a CSV row: one `column: value` line per chosen column
 * (all, in header order, when `textColumns` is absent or empty), blank values left out.
 * Throws an {@link IngestError} naming the text columns the row does not have.
 *
 * @example csvRecordText({ name: 'Ann', note: '' , city: 'Oslo' }) // 'name: Ann\ncity: Oslo'
 */
export function csvRecordText(values: Record<string, string>, textColumns?: string[]): string {
  const chosen = textColumns?.length ? textColumns : Object.keys(values);
  const unknown = chosen.filter((column) => !Object.hasOwn(values, column));
  if (unknown.length > 0) {
    throw new IngestError(`The CSV has no column named ${unknown.map((c) => `"${c}"`).join(', ')}`);
  }
  const lines: string[] = [];
  for (const column of chosen) {
    const value = values[column]?.trim();
    if (value) lines.push(`${column}: ${value}`);
  }
  return lines.join('\n');
}

type ResolvedFormat = { delimiter: string; encoding: string; guessed: boolean };

/** The format to read with: what the options give, the rest detected from `sample`. */
function resolveFormat(sample: Buffer, complete: boolean, options: CsvOptions): ResolvedFormat {
  const bom = bomEncoding(sample);
  let encoding: string;
  let text: string;
  let guessed = false;
  const given = options.encoding === undefined ? undefined : decoderFor(options.encoding);
  if (given && !bom) {
    encoding = options.encoding!;
    text = given.decode(sample, { stream: true });
  } else {
    const detected = detectEncoding(sample);
    ({ encoding, text } = detected);
    guessed = detected.ascii;
  }
  const delimiter = options.delimiter ?? sniffDelimiter(text, complete);
  if (delimiter === '' || /["\r\n]/.test(delimiter)) {
    throw new IngestError(`The CSV delimiter ${JSON.stringify(delimiter)} is not valid`);
  }
  return { delimiter, encoding, guessed };
}

function decoderFor(label: string) {
  try {
    return new TextDecoder(label);
  } catch (cause) {
    throw new IngestError(`Unknown text encoding "${label}"`, { cause });
  }
}

function bomEncoding(bytes: Uint8Array): CsvEncoding | undefined {
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return 'utf-8';
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return 'utf-16le';
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return 'utf-16be';
  return undefined;
}

/** `ascii`: nothing but ASCII, so UTF-8 is only a guess (see {@link decodeChunks}). */
function detectEncoding(sample: Uint8Array): { encoding: CsvEncoding; text: string; ascii: boolean } {
  const bom = bomEncoding(sample);
  if (bom)
    return { encoding: bom, text: new TextDecoder(bom).decode(sample, { stream: true }), ascii: false };
  checkNotBinary(sample);
  try {
    // stream: a character cut at the end of the sample is not an error.
    const text = new TextDecoder('utf-8', { fatal: true }).decode(sample, { stream: true });
    return { encoding: 'utf-8', text, ascii: isAscii(sample) };
  } catch {
    return { encoding: 'latin1', text: new TextDecoder('latin1').decode(sample), ascii: false };
  }
}

/** Text has no NUL byte and few control characters; archives, spreadsheets and images have many. */
function checkNotBinary(sample: Uint8Array): void {
  let controls = 0;
  for (const byte of sample) {
    if (byte === 0) throw notText(BINARY);
    // Tab, line feed, form feed, carriage return and the DOS end-of-file mark are at home in text.
    if (
      (byte < 0x20 && byte !== 9 && byte !== 10 && byte !== 12 && byte !== 13 && byte !== 26) ||
      byte === 0x7f
    ) {
      controls++;
    }
  }
  if (controls > sample.byteLength / 100) throw notText(BINARY);
}

function sniffDelimiter(text: string, complete: boolean): string {
  let best = { delimiter: ',', share: 0, fields: 0 };
  for (const delimiter of DELIMITERS) {
    const counts = fieldCounts(text, delimiter, complete);
    const { value: fields, share } = mode(counts);
    if (fields < 2) continue;
    if (share > best.share || (share === best.share && fields > best.fields))
      best = { delimiter, share, fields };
  }
  return best.delimiter;
}

/** Fields per non-blank record of `text` split by `delimiter`, quoted fields skipped over. */
function fieldCounts(text: string, delimiter: string, complete: boolean): number[] {
  const counts: number[] = [];
  let fields = 1;
  let blank = true;
  let fieldStart = true;
  let quoted = false;
  for (let i = 0; i < text.length && counts.length < SNIFF_RECORDS; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') i++;
      else if (c === '"') quoted = false;
    } else if (c === '\n' || c === '\r') {
      if (!blank) counts.push(fields);
      fields = 1;
      blank = true;
      fieldStart = true;
    } else if (c === delimiter) {
      fields++;
      blank = false;
      fieldStart = true;
    } else if (c === '"' && fieldStart) {
      quoted = true;
      blank = false;
    } else if (c !== ' ') {
      blank = false;
      fieldStart = false;
    }
  }
  // The sample's last line may be cut short, unless the sample is the whole file.
  if (complete && !blank && counts.length < SNIFF_RECORDS) counts.push(fields);
  return counts;
}

/** The most frequent number (the larger on a tie) and the share of the list it makes. */
function mode(numbers: number[]): { value: number; share: number } {
  const tally = new Map<number, number>();
  for (const n of numbers) tally.set(n, (tally.get(n) ?? 0) + 1);
  let value = 0;
  let count = 0;
  for (const [n, c] of tally) if (c > count || (c === count && n > value)) [value, count] = [n, c];
  return { value, share: numbers.length ? count / numbers.length : 0 };
}

async function readHead(input: AsyncIterator<Uint8Array>, bytes: number) {
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < bytes) {
    const next = await input.next();
    if (next.done) return { chunks, size, done: true };
    chunks.push(next.value);
    size += next.value.byteLength;
  }
  return { chunks, size, done: false };
}

/** The chunks read ahead, then the rest of the source; closes the source when stopped early. */
async function* replay(head: Uint8Array[], input: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  try {
    yield* head;
    for (let next = await input.next(); !next.done; next = await input.next()) yield next.value;
  } finally {
    await input.return?.();
  }
}

/**
 * Decodes a byte stream to text, strictly: invalid bytes are an error, not silent `�`.
 * A UTF-8 guessed from an all-ASCII sample is settled at the first non-ASCII byte: if what
 * follows is not UTF-8, the rest is read as windows-1252 (which agrees with ASCII on
 * everything before), so a latin1 file whose first accent comes late still reads right.
 */
async function* decodeChunks(chunks: AsyncIterable<Uint8Array>, encoding: string, guessed: boolean) {
  let decoder = new TextDecoder(encoding, { fatal: true });
  let undecided = guessed;
  // Bytes from the first non-ASCII one on, held back while too few to tell UTF-8 from windows-1252.
  let held: Uint8Array | undefined;
  const decode = (chunk?: Uint8Array) => {
    try {
      const text = chunk ? decoder.decode(chunk, { stream: true }) : decoder.decode();
      if (text.includes('\0')) throw notText('it contains NUL characters');
      return text;
    } catch (cause) {
      if (cause instanceof IngestError) throw cause;
      const reason = `The file is not valid ${decoder.encoding.toUpperCase()} text; choose its encoding`;
      throw new IngestError(reason, { cause });
    }
  };
  const settle = (bytes: Uint8Array, more: boolean) => {
    undecided = false;
    if (!isUtf8(bytes, more)) decoder = new TextDecoder('windows-1252', { fatal: true });
  };
  for await (let chunk of chunks) {
    if (undecided && held) chunk = Buffer.concat([held, chunk]);
    if (undecided && !isAscii(chunk)) {
      const first = chunk.findIndex((byte) => byte >= 0x80);
      held = chunk.subarray(first);
      // A UTF-8 character is up to 4 bytes long.
      if (held.byteLength < 4) chunk = chunk.subarray(0, first);
      else settle(held, true);
    }
    const text = decode(chunk);
    if (text) yield text;
  }
  if (undecided && held) {
    settle(held, false);
    yield decode(held);
  }
  const rest = decode();
  if (rest) yield rest;
}

/** Whether `bytes` are valid UTF-8, an incomplete last character allowed when `more` are coming. */
function isUtf8(bytes: Uint8Array, more: boolean): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes, { stream: more });
    return true;
  } catch {
    return false;
  }
}

/** Pulls records from the parser and rewords its errors. */
class RecordReader {
  constructor(
    private readonly records: AsyncIterator<string[]>,
    private readonly position: { line: number },
  ) {}

  async next(): Promise<string[] | undefined> {
    try {
      const next = await this.records.next();
      return next.done ? undefined : next.value;
    } catch (error) {
      throw parseError(error, this.position.line);
    }
  }

  async skip(count: number): Promise<void> {
    for (let i = 0; i < count; i++) if (!(await this.next())) return;
  }

  async nextNonBlank(): Promise<string[] | undefined> {
    for (let record = await this.next(); record; record = await this.next()) {
      if (!isBlank(record)) return record;
    }
    return undefined;
  }

  async close(): Promise<void> {
    await this.records.return?.();
  }
}

async function* readRows(records: RecordReader, columns: string[], maxRows: number): AsyncGenerator<CsvRow> {
  const extraNames = new Map<number, string>();
  const extraName = (index: number) => {
    const name = extraNames.get(index) ?? uniqueName(`column_${index + 1}`, new Set(columns));
    extraNames.set(index, name);
    return name;
  };
  try {
    let rowNumber = 0;
    let yielded = 0;
    for (let record = await records.next(); record && yielded < maxRows; record = await records.next()) {
      rowNumber++;
      if (isBlank(record)) continue;
      const entries: [string, string][] = columns.map((column, i) => [column, record[i] ?? '']);
      for (let i = columns.length; i < record.length; i++) {
        if (record[i] !== '') entries.push([extraName(i), record[i]!]);
      }
      // fromEntries defines own properties, so a column named __proto__ stays a column.
      yield { rowNumber, values: Object.fromEntries(entries) };
      yielded++;
    }
  } finally {
    await records.close();
  }
}

function isBlank(record: string[]): boolean {
  return record.every((value) => value.trim() === '');
}

function uniqueNames(header: string[]): string[] {
  const taken = new Set<string>();
  return header.map((raw, i) => {
    const name = uniqueName(raw.trim() || `column_${i + 1}`, taken);
    taken.add(name);
    return name;
  });
}

function uniqueName(name: string, taken: Set<string>): string {
  if (!taken.has(name)) return name;
  let n = 2;
  while (taken.has(`${name}_${n}`)) n++;
  return `${name}_${n}`;
}

/**
 * csv-parse's errors, reworded for users; anything else (the source failing) passes through.
 * `rowLine` is where the failing row starts; csv-parse's own `lines` is where it noticed.
 */
function parseError(error: unknown, rowLine: number): unknown {
  const { code, lines } = error as { code?: unknown; lines?: unknown };
  if (typeof code !== 'string' || !/^(CSV_|INVALID_)/.test(code)) return error;
  const at = (reason: string) => new IngestError(reason, { cause: error });
  switch (code) {
    case 'CSV_QUOTE_NOT_CLOSED':
      return at(`The CSV file has a quote that is never closed, in the row starting on line ${rowLine}`);
    case 'CSV_MAX_RECORD_SIZE':
      return at(`The CSV row starting on line ${rowLine} is over 1 MB long (is a quote never closed?)`);
    case 'CSV_INVALID_CLOSING_QUOTE':
    case 'CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE':
      return at(`The CSV file has a closing quote followed by other characters on line ${lines ?? rowLine}`);
    default:
      return at(`The CSV file cannot be read at line ${lines ?? rowLine}`);
  }
}
