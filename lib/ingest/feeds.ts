import { load } from 'cheerio';
import { IngestError } from './errors.ts';
import { decodeText, fetchDocument, type ScrapeOptions } from './scrape.ts';
import { normalizeUrl } from './urls.ts';

const FEED_ACCEPT = 'application/rss+xml,application/atom+xml,application/xml;q=0.9,text/xml;q=0.9,*/*;q=0.1';

/**
 * The item links of an RSS 2.0, RSS 1.0 (RDF) or Atom feed, in the feed's order, normalized,
 * without duplicates. Relative links resolve against the feed's own URL.
 *
 * @example feedLinks('<rss><channel><item><link>https://a.example/1</link></item></channel></rss>', 'https://a.example/feed')
 * // ['https://a.example/1']
 */
export function feedLinks(xml: string, feedUrl: string): string[] {
  const $ = load(xml, { xml: true });
  if ($('rss, feed, rdf\\:RDF, RDF').length === 0) throw new IngestError('Not an RSS or Atom feed');
  const links: string[] = [];
  // RSS: <item><link>url</link>; Atom: <entry><link rel="alternate" href="url"/> (rel defaults to alternate).
  $('item').each((_, item) => {
    const link =
      $(item).children('link').first().text().trim() ||
      $(item).children('guid[isPermaLink!="false"]').text().trim();
    if (link) links.push(link);
  });
  $('entry').each((_, entry) => {
    const alternate = $(entry)
      .children('link')
      .toArray()
      .find((l) => ($(l).attr('rel') ?? 'alternate') === 'alternate');
    const href = alternate ? $(alternate).attr('href')?.trim() : undefined;
    if (href) links.push(href);
  });
  const seen = new Set<string>();
  for (const link of links) {
    try {
      seen.add(normalizeUrl(new URL(link, feedUrl).href));
    } catch {
      // A link that could never be scraped (mailto:, broken) is not an item to ingest.
    }
  }
  return [...seen];
}

/** Fetches a feed behind the SSRF guard and returns its item links ({@link feedLinks}). */
export async function fetchFeedLinks(url: string, options: ScrapeOptions): Promise<string[]> {
  const doc = await fetchDocument(url, options, FEED_ACCEPT);
  return feedLinks(decodeText(doc.body, doc.charset), doc.finalUrl);
}
