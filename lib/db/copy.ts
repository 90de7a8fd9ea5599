import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFromStdin } from 'pg-copy-streams';

/** A string Postgres cannot store in `text` (nor `jsonb`): it holds a NUL character. */
export class NulCharacterError extends Error {
  override name = 'NulCharacterError';
}

/** The characters COPY's text format gives a meaning to, and NUL, which no text column takes. */
const SPECIAL = /[\\\t\n\r\0]/;
const SPECIAL_ALL = /[\\\t\n\r\0]/g;
const ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

function escapeChar(char: string): string {
  const escaped = ESCAPES[char];
  if (escaped === undefined) throw new NulCharacterError('Text with a NUL character cannot be stored');
  return escaped;
}

/**
 * A value as one field of COPY's text format: `null` as `\N`, a backslash, tab, line feed or
 * carriage return escaped, anything else as it is. Throws a {@link NulCharacterError} for a NUL
 * character: Postgres text cannot hold one.
 *
 * @example copyField('a\tb') // 'a\\tb'
 */
export function copyField(value: string | null): string {
  if (value === null) return '\\N';
  return SPECIAL.test(value) ? value.replace(SPECIAL_ALL, escapeChar) : value;
}

/**
 * One row of COPY's text format, line feed included.
 *
 * @example copyRow(['1', null, 'x']) // '1\t\\N\tx\n'
 */
export function copyRow(values: readonly (string | null)[]): string {
  let line = copyField(values[0] ?? null);
  for (let i = 1; i < values.length; i++) line += `\t${copyField(values[i] ?? null)}`;
  return `${line}\n`;
}

/**
 * Streams rows into a table with `COPY table (columns) FROM STDIN` (text format) on `client`,
 * inside whatever transaction the client is in. `chunks` are rows made by {@link copyRow},
 * several to a chunk; they are pulled as the connection takes them, so memory stays bounded
 * whatever the row count. When `chunks` throws, the COPY is cancelled (nothing of it stays)
 * and that error is thrown. Returns the number of rows copied.
 *
 * Kysely does not speak COPY: `client` is the raw connection of a `withConnection` scope.
 */
export async function copyFrom(
  client: pg.ClientBase,
  table: string,
  columns: readonly string[],
  chunks: AsyncIterable<string>,
): Promise<number> {
  const target = client.query(copyFromStdin(`COPY ${table} (${columns.join(', ')}) FROM STDIN`));
  // Two chunks read ahead: enough to keep the connection busy, little to hold.
  await pipeline(Readable.from(chunks, { highWaterMark: 2 }), target);
  return target.rowCount;
}
