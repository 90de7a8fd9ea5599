import { describe, expect, it } from 'vitest';
import { IngestError } from './errors.ts';
import { feedLinks } from './feeds.ts';

describe('feedLinks', () => {
  it('reads RSS 2.0 items, resolving relative links and dropping duplicates and fragments', () => {
    const xml = `<?xml version="1.0"?>
      <rss version="2.0"><channel><title>News</title><link>https://news.example/</link>
        <item><title>One</title><link>https://news.example/one</link></item>
        <item><title>Two</title><link> /two </link></item>
        <item><title>One again</title><link>https://news.example/one#comments</link></item>
        <item><title>Guid only</title><guid>https://news.example/three</guid></item>
        <item><title>Not a link</title><guid isPermaLink="false">tag:x,2026:4</guid></item>
      </channel></rss>`;
    expect(feedLinks(xml, 'https://news.example/feed.xml')).toEqual([
      'https://news.example/one',
      'https://news.example/two',
      'https://news.example/three',
    ]);
  });

  it('reads Atom entries’ alternate links', () => {
    const xml = `<feed xmlns="http://www.w3.org/2005/Atom"><title>Blog</title>
        <link href="https://blog.example/"/>
        <entry><title>A</title><link rel="alternate" href="https://blog.example/a"/><link rel="edit" href="https://blog.example/edit/a"/></entry>
        <entry><title>B</title><link href="b"/></entry>
      </feed>`;
    expect(feedLinks(xml, 'https://blog.example/atom.xml')).toEqual([
      'https://blog.example/a',
      'https://blog.example/b',
    ]);
  });

  it('reads RSS 1.0 (RDF) items and skips links that could never be scraped', () => {
    const xml = `<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/">
        <item><link>https://rdf.example/1</link></item>
        <item><link>mailto:someone@example.com</link></item>
      </rdf:RDF>`;
    expect(feedLinks(xml, 'https://rdf.example/feed')).toEqual(['https://rdf.example/1']);
  });

  it('refuses a document that is not a feed', () => {
    expect(() => feedLinks('<html><body>Hello</body></html>', 'https://x.example/')).toThrow(IngestError);
  });
});
