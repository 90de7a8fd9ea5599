import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  type CsvOptions,
  type CsvRow,
  csvRecordText,
  detectCsvFormat,
  openCsv,
  readCsv,
} from '#lib/ingest/csv.ts';
import { IngestError } from '#lib/ingest/errors.ts';
import { rejectionOf } from '#test/support/errors.ts';
import { makeCsv } from '#test/support/fixtures.ts';

/** The bytes in chunks of `size`, so characters and rows fall across chunk boundaries. */
async function* chunks(bytes: Uint8Array, size = 7): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function rows(bytes: Uint8Array | string, options?: CsvOptions): Promise<CsvRow[]> {
  const all: CsvRow[] = [];
  for await (const row of readCsv(chunks(typeof bytes === 'string' ? Buffer.from(bytes) : bytes), options)) {
    all.push(row);
  }
  return all;
}

/** The reason of the IngestError a call throws. */
const reason = async (promise: Promise<unknown>) => (await rejectionOf(promise, IngestError)).reason;

const utf16le = (text: string) => Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);

describe('detectCsvFormat', () => {
  it.each([',', ';', '\t', '|'])('detects %j as the delimiter', (delimiter) => {
    const csv = makeCsv(
      [
        ['name', 'note', 'amount'],
        ['Ann', 'likes , ; | and tabs\t', '1'],
        ['Bob', 'multi\nline', '2'],
      ],
      delimiter,
    );
    expect(detectCsvFormat(Buffer.from(csv))).toEqual({ delimiter, encoding: 'utf-8' });
  });

  it('is not fooled by decimal commas in a semicolon file nor by a title line', () => {
    const csv = 'Prices 2024\nitem;price;tax\nA;1,50;0,2\nB;2,00;0,4\nC;3,5;0,7\n';
    expect(detectCsvFormat(Buffer.from(csv)).delimiter).toBe(';');
  });

  it('falls back to a comma for a single column and copes with a sample cut mid-line', () => {
    expect(detectCsvFormat(Buffer.from('name\nAnn\nBob\n')).delimiter).toBe(',');
    expect(detectCsvFormat(Buffer.from('a|b|c\n1|2|3\n4|5|6\n7|8')).delimiter).toBe('|');
  });

  it('detects the encoding from a BOM or the bytes', () => {
    expect(detectCsvFormat(Buffer.from('\ufeffa;b\n1;2\n')).encoding).toBe('utf-8');
    expect(detectCsvFormat(Buffer.from('a;b\nÅse;Zoë\n')).encoding).toBe('utf-8');
    expect(detectCsvFormat(Buffer.from('a;b\nJosé;Zoë\n', 'latin1')).encoding).toBe('latin1');
    expect(detectCsvFormat(utf16le('a\tb\n1\t2\n'))).toEqual({ delimiter: '\t', encoding: 'utf-16le' });
    // A multi-byte character cut at the end of the sample is still UTF-8.
    expect(detectCsvFormat(Buffer.from('a,b\nx,é').subarray(0, -1)).encoding).toBe('utf-8');
  });

  it('rejects binary data', () => {
    const zip = Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00, 0x08, 0x00]);
    expect(() => detectCsvFormat(zip)).toThrow(/^The file is not a text CSV/);
    const noisy = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 37) % 255 || 1));
    expect(() => detectCsvFormat(noisy)).toThrow(IngestError);
  });
});

describe('openCsv and readCsv', () => {
  it('reads the header and rows, with quoted delimiters, quotes and line breaks', async () => {
    for (const delimiter of [',', ';', '\t']) {
      const csv = makeCsv(
        [
          ['name', 'note'],
          ['Ann', `says "hi"${delimiter} twice`],
          ['Bob', 'line one\nline two'],
        ],
        delimiter,
      );
      expect(await rows(csv)).toEqual([
        { rowNumber: 1, values: { name: 'Ann', note: `says "hi"${delimiter} twice` } },
        { rowNumber: 2, values: { name: 'Bob', note: 'line one\nline two' } },
      ]);
    }
  });

  it('returns the columns and the format used', async () => {
    const csv = await openCsv(Readable.from([Buffer.from('\ufeffid;title\r\n1;x\r\n')]));
    expect(csv.columns).toEqual(['id', 'title']);
    expect(csv.format).toEqual({ delimiter: ';', encoding: 'utf-8' });
    const all: CsvRow[] = [];
    for await (const row of csv.rows) all.push(row);
    expect(all).toEqual([{ rowNumber: 1, values: { id: '1', title: 'x' } }]);
  });

  it('decodes latin1, windows-1252 and UTF-16LE', async () => {
    expect(await rows(Buffer.from('nom;ville\nJosé;Montréal\n', 'latin1'))).toEqual([
      { rowNumber: 1, values: { nom: 'José', ville: 'Montréal' } },
    ]);
    const euro = Buffer.from([...Buffer.from('price\n'), 0x80, 0x35, 0x0a]);
    expect(await rows(euro)).toEqual([{ rowNumber: 1, values: { price: '€5' } }]);
    expect(await rows(utf16le('name\tcity\nZoë\tŁódź\n'))).toEqual([
      { rowNumber: 1, values: { name: 'Zoë', city: 'Łódź' } },
    ]);
  });

  it('switches to windows-1252 when the first accent comes after an all-ASCII sample', async () => {
    const ascii = Buffer.from(`a,b\n${'x,y\n'.repeat(20_000)}`);
    const latin1 = await rows(Buffer.concat([ascii, Buffer.from('Café,1\n', 'latin1')]));
    expect(latin1.at(-1)?.values).toEqual({ a: 'Café', b: '1' });
    const utf8 = await rows(Buffer.concat([ascii, Buffer.from('Café,1\n')]));
    expect(utf8.at(-1)?.values).toEqual({ a: 'Café', b: '1' });
  });

  it('settles the encoding even when the first accent falls at the end of a chunk', async () => {
    const read = async (...parts: Buffer[]) => {
      const all: CsvRow[] = [];
      for await (const row of readCsv(Readable.from(parts))) all.push(row);
      return all.at(-1)?.values;
    };
    const ascii = Buffer.from(`a,b\n${'x,y\n'.repeat(20_000)}Caf`);
    const latin1 = Buffer.from('é,1\n', 'latin1');
    const utf8 = Buffer.from('é,1\n');
    expect(await read(ascii, latin1.subarray(0, 1), latin1.subarray(1))).toEqual({ a: 'Café', b: '1' });
    expect(await read(ascii, utf8.subarray(0, 1), utf8.subarray(1))).toEqual({ a: 'Café', b: '1' });
    expect(await read(ascii, latin1.subarray(0, 1))).toEqual({ a: 'Café', b: '' });
  });

  it('rejects bytes that are not UTF-8 after UTF-8 was seen', async () => {
    const bytes = Buffer.concat([
      Buffer.from(`a,b\nÅse,1\n${'x,y\n'.repeat(20_000)}`),
      Buffer.from([0xe9, 0x0a]),
    ]);
    expect(await reason(rows(bytes))).toMatch(/^The file is not valid UTF-8 text/);
  });

  it('uses the encoding and delimiter given', async () => {
    expect(await rows(Buffer.from('a|b\n1;x|é\n', 'latin1'), { encoding: 'latin1', delimiter: '|' })).toEqual(
      [{ rowNumber: 1, values: { a: '1;x', b: 'é' } }],
    );
    expect(await reason(rows('a,b\n1,2\n', { encoding: 'klingon' }))).toBe('Unknown text encoding "klingon"');
  });

  it('skips blank rows, counting them in row numbers', async () => {
    expect(await rows('a,b\n1,2\n\n , \n,\n3,4\n')).toEqual([
      { rowNumber: 1, values: { a: '1', b: '2' } },
      { rowNumber: 5, values: { a: '3', b: '4' } },
    ]);
  });

  it('tolerates rows with fewer or more fields than the header', async () => {
    expect(await rows('a,b,c\n1\n1,2,3,4,\n')).toEqual([
      { rowNumber: 1, values: { a: '1', b: '', c: '' } },
      { rowNumber: 2, values: { a: '1', b: '2', c: '3', column_4: '4' } },
    ]);
  });

  it('makes header names unique and non-empty', async () => {
    const csv = await openCsv(chunks(Buffer.from(' a ,,a,column_2\n1,2,3,4\n')));
    expect(csv.columns).toEqual(['a', 'column_2', 'a_2', 'column_2_2']);
    csv.close();
  });

  it('skips lines before the header and blank lines up to it', async () => {
    expect(await rows('Sales report\nJanuary\n\na,b\n1,2\n', { skipRows: 2 })).toEqual([
      { rowNumber: 1, values: { a: '1', b: '2' } },
    ]);
  });

  it('stops after maxRows and closes the source', async () => {
    let closed = false;
    async function* source() {
      try {
        yield Buffer.from('n\n');
        for (let i = 1; ; i++) yield Buffer.from(`${i}\n`);
      } finally {
        closed = true;
      }
    }
    const all: CsvRow[] = [];
    for await (const row of readCsv(source(), { maxRows: 3 })) all.push(row);
    expect(all.map((r) => r.values.n)).toEqual(['1', '2', '3']);
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(true);
  });

  it('streams: the first row arrives long before the source is read to its end', async () => {
    let pulled = 0;
    async function* source() {
      yield Buffer.from('id,text\n');
      for (let chunk = 0; chunk < 1000; chunk++) {
        pulled++;
        yield Buffer.from(Array.from({ length: 100 }, (_, i) => `${chunk * 100 + i},some text\n`).join(''));
      }
    }
    const csv = await openCsv(source());
    const first = await csv.rows.next();
    expect(first.value).toEqual({ rowNumber: 1, values: { id: '0', text: 'some text' } });
    expect(pulled).toBeLessThan(100);
    await csv.rows.return(undefined);
  });

  it('rejects an empty file, a blank one and a binary one', async () => {
    expect(await reason(rows(''))).toBe('The CSV file is empty');
    expect(await reason(rows('\n \n\r\n'))).toBe('The CSV file is empty');
    const xlsx = Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x00]), Buffer.alloc(100)]);
    expect(await reason(rows(xlsx))).toMatch(/^The file is not a text CSV/);
    // Given an 8-bit encoding, detection is skipped, but NULs still give the file away.
    expect(await reason(rows(xlsx, { encoding: 'latin1' }))).toMatch(/^The file is not a text CSV/);
  });

  it('names the line of a quote that is never closed', async () => {
    expect(await reason(rows('a,b\n1,2\n3,"oops\n5,6\n7,8\n'))).toBe(
      'The CSV file has a quote that is never closed, in the row starting on line 3',
    );
  });

  it('keeps errors of the source itself as they are', async () => {
    async function* failing() {
      yield Buffer.from(`a,b\n${'1,2\n'.repeat(30_000)}`);
      throw new Error('connection reset');
    }
    const read = async () => {
      for await (const _ of readCsv(failing())) {
        // drain
      }
    };
    await expect(read()).rejects.toThrow('connection reset');
    await expect(read()).rejects.not.toBeInstanceOf(IngestError);
  });

  it('parses 100,000 rows in reasonable time (a loose sanity bound, not a benchmark)', async () => {
    const table = [['id', 'name', 'description', 'amount']];
    for (let i = 0; i < 100_000; i++)
      table.push([String(i), `name ${i}`, `a "quoted", multi\nline text ${i}`, '12.5']);
    const bytes = Buffer.from(makeCsv(table));
    const started = performance.now();
    let count = 0;
    for await (const _ of readCsv(chunks(bytes, 64 * 1024))) count++;
    expect(count).toBe(100_000);
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});

describe('csvRecordText', () => {
  const values = { name: 'Ann', city: ' ', note: 'likes tea\nand cake' };

  it('lists the non-blank columns as "column: value" lines', () => {
    expect(csvRecordText(values)).toBe('name: Ann\nnote: likes tea\nand cake');
  });

  it('lists only the text columns chosen, in their order', () => {
    expect(csvRecordText(values, ['note', 'name'])).toBe('note: likes tea\nand cake\nname: Ann');
    expect(csvRecordText(values, [])).toBe(csvRecordText(values));
  });

  it('names the text columns that do not exist', () => {
    expect(() => csvRecordText(values, ['name', 'age', 'email'])).toThrow(
      new IngestError('The CSV has no column named "age", "email"'),
    );
  });
});
