import { type CheerioAPI, loadBuffer } from 'cheerio';
import { type AnyNode, hasChildren, isTag, isText } from 'domhandler';
import { type Agent, fetch, type Response } from 'undici';
import { IngestError } from '#lib/ingest/errors.ts';
import { createGuardedAgent } from '#lib/ingest/guarded-agent.ts';
import { checkUrl, type GuardOptions } from '#lib/ingest/ssrf.ts';
import { normalizeUrl } from '#lib/ingest/urls.ts';

export type ScrapeOptions = GuardOptions & {
  /** Total budget for redirects, headers and body. Default 15 s. */
  timeoutMs?: number;
  /** Cap on the (decompressed) body. Default 5 MB. */
  maxBytes?: number;
  /** Default 5. */
  maxRedirects?: number;
  userAgent?: string;
};

export type ScrapedPage = {
  /** The URL as given, normalized ({@link normalizeUrl}). */
  url: string;
  /** Where the last redirect led. */
  finalUrl: string;
  title: string | null;
  text: string;
  publishedAt: Date | null;
  /** Media type without parameters, e.g. `text/html`. */
  contentType: string;
};

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const HTML_TYPES = new Set(['text/html', 'application/xhtml+xml']);
// Beyond the usual chrome, svg/template/iframe only ever add markup noise to the text.
const DROPPED = 'script, style, nav, footer, header, aside, noscript, form, template, svg, iframe';
const BLOCKS = new Set(
  'address article blockquote dd details div dl dt figcaption figure h1 h2 h3 h4 h5 h6 hr li main ol p pre section summary table tr ul'.split(
    ' ',
  ),
);

/**
 * Fetches a web page behind the SSRF guard and extracts its main text, title and publication
 * date. Every failure is an {@link IngestError} with a short user-facing reason.
 *
 * @example const page = await scrapeUrl('https://example.com/post', { allowPrivateHosts: false });
 */
export async function scrapeUrl(url: string, options: ScrapeOptions): Promise<ScrapedPage> {
  const doc = await fetchDocument(url, options, 'text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.1');
  const isHtml = HTML_TYPES.has(doc.mediaType);
  if (!isHtml && doc.mediaType !== 'text/plain')
    throw new IngestError(`Unsupported content type ${doc.mediaType}`);
  const page = isHtml
    ? extractHtml(doc.body, doc.charset)
    : // Postgres text refuses NUL; HTML parsing drops it already, plain text needs it done here.
      { title: null, text: decodeText(doc.body, doc.charset).replaceAll('\0', ''), publishedAt: null };
  if (page.text.trim() === '') throw new IngestError('No text found on the page');
  return { url: doc.url, finalUrl: doc.finalUrl, contentType: doc.mediaType, ...page };
}

/** A fetched document: its body (capped) and what its headers say about it. */
export type FetchedDocument = {
  url: string;
  finalUrl: string;
  mediaType: string;
  charset: string | undefined;
  body: Buffer;
};

/**
 * Fetches a URL behind the SSRF guard: redirects followed by hand so each hop is checked again,
 * a total time budget and a cap on the decompressed body. Only 2xx answers; every failure is an
 * {@link IngestError}.
 */
export async function fetchDocument(
  url: string,
  options: ScrapeOptions,
  accept: string,
): Promise<FetchedDocument> {
  const normalized = normalizeUrl(url);
  const timeoutMs = options.timeoutMs ?? 15_000;
  const maxBytes = options.maxBytes ?? 5 * 1024 * 1024;
  const signal = AbortSignal.timeout(timeoutMs);
  // One agent per fetch: destroying it tears down any socket still streaming a body we dropped.
  const agent = createGuardedAgent(options);
  try {
    const { response, finalUrl } = await fetchFollowingRedirects(
      new URL(normalized),
      options,
      agent,
      signal,
      accept,
    );
    if (!response.ok) throw new IngestError(`HTTP ${response.status}`);
    const { mediaType, charset } = parseContentType(response.headers.get('content-type'));
    const body = await readCapped(response, maxBytes);
    return { url: normalized, finalUrl, mediaType, charset, body };
  } catch (error) {
    throw toIngestError(error, signal, timeoutMs);
  } finally {
    await agent.destroy();
  }
}

async function fetchFollowingRedirects(
  start: URL,
  options: ScrapeOptions,
  agent: Agent,
  signal: AbortSignal,
  accept: string,
): Promise<{ response: Response; finalUrl: string }> {
  const maxRedirects = options.maxRedirects ?? 5;
  let current = start;
  for (let redirects = 0; ; redirects++) {
    const check = checkUrl(current, options);
    if (!check.ok) throw new IngestError(check.reason);
    const response = await fetch(current, {
      redirect: 'manual',
      signal,
      dispatcher: agent,
      headers: {
        'user-agent': options.userAgent ?? 'docsift/0.1 (document ingestion)',
        accept,
      },
    });
    const location = response.headers.get('location');
    if (!REDIRECTS.has(response.status) || !location) return { response, finalUrl: current.href };
    await response.body?.cancel();
    if (redirects >= maxRedirects) throw new IngestError('Too many redirects');
    try {
      current = new URL(location, current);
    } catch (cause) {
      throw new IngestError('Invalid redirect URL', { cause });
    }
    current.hash = '';
  }
}

/** Reads the body, refusing before (Content-Length) or while streaming once it passes maxBytes. */
async function readCapped(response: Response, maxBytes: number): Promise<Buffer> {
  const tooLarge = () => new IngestError(`Response too large (over ${formatBytes(maxBytes)})`);
  if (Number(response.headers.get('content-length')) > maxBytes) {
    await response.body?.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  // Leaving the loop early (throw) cancels the stream, so the rest is never downloaded.
  for await (const chunk of response.body ?? []) {
    total += chunk.byteLength;
    if (total > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function extractHtml(
  body: Buffer,
  charset: string | undefined,
): Omit<ScrapedPage, 'url' | 'finalUrl' | 'contentType'> {
  // The sniffer honours a BOM, then the HTTP charset, then <meta charset>, as browsers do.
  const $ = loadBuffer(body, { encoding: charset ? { transportLayerEncodingLabel: charset } : {} });
  // Title and date first: they often sit in <header> or JSON-LD <script>, both removed below.
  const title =
    [$('meta[property="og:title"]').attr('content'), $('title').first().text(), $('h1').first().text()]
      .map((t) => t?.replace(/\s+/g, ' ').trim())
      .find((t) => t) ?? null;
  const publishedAt = findPublishedAt($);
  $(DROPPED).remove();
  const root =
    ['article', 'main', '[role=main]'].map((s) => $(s).first()).find((el) => el.length > 0) ?? $('body');
  return { title, publishedAt, text: blockText(root.get()) };
}

/** Text with HTML whitespace collapsed, a blank line between blocks and a newline per <br>. */
function blockText(nodes: AnyNode[]): string {
  const parts: string[] = [];
  const walk = (node: AnyNode) => {
    if (isText(node)) parts.push(node.data.replace(/\s+/g, ' '));
    if (!hasChildren(node)) return;
    const name = isTag(node) ? node.name : '';
    if (name === 'br') parts.push('\n');
    if (name === 'td' || name === 'th') parts.push(' ');
    if (BLOCKS.has(name)) parts.push('\n\n');
    for (const child of node.children) walk(child);
    if (BLOCKS.has(name)) parts.push('\n\n');
  };
  for (const node of nodes) walk(node);
  return parts
    .join('')
    .replace(/ {2,}/g, ' ')
    .replace(/ *\n */g, '\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function findPublishedAt($: CheerioAPI): Date | null {
  const meta = (key: string) => $(`meta[property="${key}"], meta[name="${key}"]`).attr('content');
  const candidates = [
    meta('article:published_time'),
    meta('og:published_time'),
    ...$('script[type="application/ld+json"]')
      .toArray()
      .map((el) => jsonLdDatePublished($(el).text())),
    $('time[pubdate][datetime]').attr('datetime'),
    $('time[datetime]').attr('datetime'),
    meta('date'),
    meta('pubdate'),
  ];
  for (const candidate of candidates) {
    const date = parseDate(candidate);
    if (date) return date;
  }
  return null;
}

/** The first `datePublished` in a JSON-LD block, searching nested objects and @graph arrays. */
function jsonLdDatePublished(json: string): string | undefined {
  let data: unknown;
  try {
    data = JSON.parse(json);
  } catch {
    return undefined; // Broken JSON-LD is common; other sources may still have the date.
  }
  const search = (value: unknown, depth: number): string | undefined => {
    if (depth > 8 || typeof value !== 'object' || value === null) return undefined;
    if (!Array.isArray(value) && typeof (value as { datePublished?: unknown }).datePublished === 'string') {
      return (value as { datePublished: string }).datePublished;
    }
    for (const child of Object.values(value)) {
      const found = search(child, depth + 1);
      if (found) return found;
    }
    return undefined;
  };
  return search(data, 0);
}

/** A real date or null: `Date` accepts oddities like "1" (year 2001), so ask for a 4-digit year. */
function parseDate(value: string | undefined): Date | null {
  if (!value || !/\d{4}/.test(value)) return null;
  const date = new Date(value.trim());
  return Number.isNaN(date.getTime()) ? null : date;
}

function parseContentType(header: string | null): { mediaType: string; charset: string | undefined } {
  // RFC 9110: a missing type may be taken as application/octet-stream, which we refuse.
  const [type = '', ...params] = (header ?? 'application/octet-stream').split(';');
  const charset = params
    .map((p) => p.trim().match(/^charset\s*=\s*"?([^";]+)"?$/i)?.[1])
    .find((c) => c !== undefined);
  return { mediaType: type.trim().toLowerCase() || 'application/octet-stream', charset };
}

export function decodeText(body: Buffer, charset: string | undefined): string {
  try {
    return new TextDecoder(charset ?? 'utf-8').decode(body);
  } catch {
    return new TextDecoder('utf-8').decode(body); // unknown charset label
  }
}

function toIngestError(error: unknown, signal: AbortSignal, timeoutMs: number): IngestError {
  // undici wraps connect failures (our guard's refusals among them) as TypeError('fetch failed').
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e instanceof IngestError) return e;
  }
  if (signal.aborted) return new IngestError(`Timed out after ${timeoutMs} ms`, { cause: error });
  return new IngestError('Could not fetch the URL', { cause: error });
}

function formatBytes(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${+(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}
