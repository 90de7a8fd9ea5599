import { IngestError } from '#lib/ingest/errors.ts';
import { checkUrl } from '#lib/ingest/ssrf.ts';

// Apart from the scraper (lib/ingest/scrape.ts), which pulls in undici and cheerio: the API
// normalizes URLs in every datasource and record route, and must not load either for it.

/**
 * Canonical form under which a URL is stored once per datasource: scheme and host lowercased
 * (by WHATWG parsing), default port and fragment dropped, query kept. Refuses what could never
 * be scraped: non-http(s) schemes, credentials, link-local/metadata IP literals.
 *
 * @example normalizeUrl('HTTPS://Example.COM:443/a?b=1#top') // 'https://example.com/a?b=1'
 */
export function normalizeUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url.trim());
  } catch (cause) {
    throw new IngestError('Invalid URL', { cause });
  }
  // Private hosts are judged at fetch time, where the caller's allowPrivateHosts is known.
  const result = checkUrl(parsed, { allowPrivateHosts: true });
  if (!result.ok) throw new IngestError(result.reason);
  parsed.hash = '';
  return parsed.href;
}
