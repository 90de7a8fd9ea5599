import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { IngestError } from '#lib/ingest/errors.ts';
import { type ScrapeOptions, scrapeUrl } from '#lib/ingest/scrape.ts';
import { normalizeUrl } from '#lib/ingest/urls.ts';

// Every server listens on 127.0.0.1, so tests allow private hosts except where they prove refusal.
const local: ScrapeOptions = { allowPrivateHosts: true };
const servers: Server[] = [];

async function serve(handler: RequestListener): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const page =
  (body: string | Buffer, contentType = 'text/html; charset=utf-8'): RequestListener =>
  (_req, res) => {
    res.writeHead(200, { 'content-type': contentType });
    res.end(body);
  };

/** Scrapes and returns the IngestError's reason, failing if the scrape succeeds or throws anything else. */
async function reasonOf(url: string, options: ScrapeOptions = local): Promise<string> {
  const error = await scrapeUrl(url, options).then(
    () => expect.fail('scrape should have failed'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(IngestError);
  return (error as IngestError).reason;
}

/** Encodes text as windows-1252 (latin-1 plus the C1 punctuation the test uses). */
function cp1252(text: string): Buffer {
  const extra: Record<string, number> = { '€': 0x80, '“': 0x93, '”': 0x94, '–': 0x96 };
  return Buffer.from([...text].map((c) => extra[c] ?? c.charCodeAt(0)));
}

const ARTICLE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Rivers rising | The Daily Example</title>
  <meta property="og:title" content="Rivers rising across the valley">
  <meta property="article:published_time" content="2024-03-05T08:30:00+01:00">
  <script type="application/ld+json">{"@context":"https://schema.org","@type":"NewsArticle","datePublished":"2020-01-01"}</script>
  <style>body { color: red }</style>
</head>
<body>
  <header><a href="/">The Daily Example</a><nav><a href="/world">World</a> <a href="/sport">Sport</a></nav></header>
  <article>
    <h1>Rivers   rising
      across the valley</h1>
    <p>Heavy rain has pushed the river
       above its banks for the <em>third</em> time this year.</p>
    <script>trackPageView()</script>
    <aside>Related: how to prepare for a flood</aside>
    <p>Residents were told to move<br>cars to higher ground.</p>
    <ul><li>Road A closed</li><li>Bridge B open</li></ul>
    <form><input name="q"><button>Subscribe</button></form>
  </article>
  <footer>© The Daily Example</footer>
</body>
</html>`;

describe('normalizeUrl', () => {
  it.each([
    ['HTTPS://Example.COM/Path?q=A#frag', 'https://example.com/Path?q=A'],
    ['http://example.com:80/a/../b', 'http://example.com/b'],
    ['  https://example.com  ', 'https://example.com/'],
    ['https://bücher.example/', 'https://xn--bcher-kva.example/'],
  ])('%s → %s', (input, expected) => {
    expect(normalizeUrl(input)).toBe(expected);
  });

  it.each([
    ['not a url', 'Invalid URL'],
    ['ftp://example.com/file', 'Unsupported URL scheme ftp'],
    ['javascript:alert(1)', 'Unsupported URL scheme javascript'],
    ['https://user:secret@example.com/', 'URLs with credentials are not supported'],
    ['http://169.254.169.254/', 'link-local/metadata address refused'],
  ])('refuses %s', (input, reason) => {
    expect(() => normalizeUrl(input)).toThrow(expect.objectContaining({ name: 'IngestError', reason }));
  });
});

describe('scrapeUrl extraction', () => {
  it('extracts title, main text and publication date from an article page', async () => {
    const base = await serve(page(ARTICLE));
    const result = await scrapeUrl(`${base}/news/rivers#comments`, local);
    expect(result).toEqual({
      url: `${base}/news/rivers`,
      finalUrl: `${base}/news/rivers`,
      contentType: 'text/html',
      title: 'Rivers rising across the valley',
      publishedAt: new Date('2024-03-05T07:30:00Z'),
      text: [
        'Rivers rising across the valley',
        'Heavy rain has pushed the river above its banks for the third time this year.',
        'Residents were told to move\ncars to higher ground.',
        'Road A closed\n\nBridge B open',
      ].join('\n\n'),
    });
  });

  it.each([
    ['<meta property="og:title" content="OG"><title>Doc</title>', '<h1>H</h1>', 'OG'],
    ['<title>  Doc\n title </title>', '<h1>H</h1>', 'Doc title'],
    ['', '<h1>Heading</h1>', 'Heading'],
    ['', '<p>No title</p>', null],
  ])('title from %j / %j', async (head, body, title) => {
    const base = await serve(page(`<html><head>${head}</head><body>${body}<p>text</p></body></html>`));
    expect((await scrapeUrl(base, local)).title).toBe(title);
  });

  const ld = (json: string) => `<script type="application/ld+json">${json}</script>`;
  it.each([
    ['<meta property="og:published_time" content="2023-02-01T10:00:00Z">', '2023-02-01T10:00:00.000Z'],
    [
      ld('{"@graph":[{"@type":"WebPage"},{"@type":"Article","datePublished":"2022-06-15T12:00:00Z"}]}'),
      '2022-06-15T12:00:00.000Z',
    ],
    [ld('[{"@type":"BlogPosting","datePublished":"2021-01-02"}]'), '2021-01-02T00:00:00.000Z'],
    ['<meta name="date" content="2019-11-30">', '2019-11-30T00:00:00.000Z'],
    ['<meta name="pubdate" content="Tue, 01 Oct 2019 10:00:00 GMT">', '2019-10-01T10:00:00.000Z'],
    [
      '<meta property="article:published_time" content="not a date"><meta name="date" content="2018-05-05">',
      '2018-05-05T00:00:00.000Z',
    ],
    ['<meta property="article:published_time" content="1">', null],
    [ld('{"datePublished": broken'), null],
    ['', null],
  ])('publication date from %s', async (head, iso) => {
    const base = await serve(page(`<html><head>${head}</head><body><p>text</p></body></html>`));
    expect((await scrapeUrl(base, local)).publishedAt?.toISOString() ?? null).toBe(iso);
  });

  it('reads the date from <time datetime>, preferring one marked pubdate', async () => {
    const body =
      '<p>Updated <time datetime="2024-02-02">Feb 2</time></p><time pubdate datetime="2024-01-01">Jan 1</time>';
    const base = await serve(page(`<html><body>${body}</body></html>`));
    expect((await scrapeUrl(base, local)).publishedAt).toEqual(new Date('2024-01-01T00:00:00Z'));
  });

  it.each([
    ['<div>Menu</div><main><p>Main text</p></main>', 'Main text'],
    ['<div>Menu</div><div role="main"><p>Role text</p></div>', 'Role text'],
    ['<div>First</div>\n<div>Second <b>bold</b>&nbsp;end</div>', 'First\n\nSecond bold end'],
  ])('picks the main content of %j', async (body, text) => {
    const base = await serve(page(`<html><body>${body}</body></html>`));
    expect((await scrapeUrl(base, local)).text).toBe(text);
  });

  it('decodes a windows-1252 page named by the Content-Type header', async () => {
    const base = await serve(page(cp1252('<p>Café – “quoted” 5 €</p>'), 'text/html; charset=windows-1252'));
    expect((await scrapeUrl(base, local)).text).toBe('Café – “quoted” 5 €');
  });

  it('decodes a windows-1252 page named only by <meta charset>', async () => {
    const html = cp1252(
      '<html><head><meta charset="windows-1252"><title>Crème brûlée</title></head><body>Ça va</body></html>',
    );
    const base = await serve(page(html, 'text/html'));
    expect(await scrapeUrl(base, local)).toMatchObject({ title: 'Crème brûlée', text: 'Ça va' });
  });

  it('keeps text/plain as is, decoded by its charset', async () => {
    const base = await serve(
      page(cp1252('Line one\n\n  indented – two\n'), 'text/plain; charset=windows-1252'),
    );
    expect(await scrapeUrl(base, local)).toMatchObject({
      contentType: 'text/plain',
      title: null,
      publishedAt: null,
      text: 'Line one\n\n  indented – two\n',
    });
  });

  it('drops NUL characters, which Postgres text cannot hold, from plain and HTML pages', async () => {
    const plain = await serve(page('a\0b\0', 'text/plain'));
    expect((await scrapeUrl(plain, local)).text).toBe('ab');
    const html = await serve(page('<title>T\0</title><p>c\0d</p>'));
    const scraped = await scrapeUrl(html, local);
    expect(`${scraped.title}${scraped.text}`).not.toContain('\0');
  });
});

describe('scrapeUrl failures', () => {
  it('refuses a loopback URL before connecting unless private hosts are allowed', async () => {
    const base = await serve(page('<p>secret</p>'));
    let connections = 0;
    servers[0]!.on('connection', () => connections++);
    expect(await reasonOf(base, { allowPrivateHosts: false })).toBe('private address refused');
    expect(connections).toBe(0);
  });

  it('refuses a non-standard port unless private hosts are allowed, before any DNS lookup', async () => {
    expect(await reasonOf('http://example.com:8080/', { allowPrivateHosts: false })).toBe(
      'Port 8080 refused (only 80 and 443)',
    );
  });

  it('refuses a redirect to the metadata address without connecting to it', async () => {
    const base = await serve((_req, res) => {
      res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' });
      res.end();
    });
    const hosts: string[] = [];
    const onConnect = (message: unknown) =>
      hosts.push((message as { connectParams: { hostname: string } }).connectParams.hostname);
    diagnostics.subscribe('undici:client:beforeConnect', onConnect);
    try {
      expect(await reasonOf(base)).toBe('link-local/metadata address refused');
    } finally {
      diagnostics.unsubscribe('undici:client:beforeConnect', onConnect);
    }
    expect(hosts).toEqual(['127.0.0.1']);
  });

  it('follows a relative redirect and reports the final URL', async () => {
    const base = await serve((req, res) => {
      if (req.url === '/old') res.writeHead(301, { location: '/new' }).end();
      else page('<p>Moved here</p>')(req, res);
    });
    expect(await scrapeUrl(`${base}/old`, local)).toMatchObject({
      url: `${base}/old`,
      finalUrl: `${base}/new`,
      text: 'Moved here',
    });
  });

  it('stops a redirect loop', async () => {
    let requests = 0;
    const base = await serve((req, res) => {
      requests++;
      res.writeHead(302, { location: req.url === '/a' ? '/b' : '/a' }).end();
    });
    expect(await reasonOf(`${base}/a`, { ...local, maxRedirects: 3 })).toBe('Too many redirects');
    expect(requests).toBe(4);
  });

  it('times out on a server that never answers', async () => {
    const base = await serve(() => {});
    const started = Date.now();
    expect(await reasonOf(base, { ...local, timeoutMs: 300 })).toBe('Timed out after 300 ms');
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('times out on a body that trickles forever', async () => {
    const base = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      const timer = setInterval(() => res.write('<p>drip</p>'), 50);
      res.on('close', () => clearInterval(timer));
    });
    expect(await reasonOf(base, { ...local, timeoutMs: 300 })).toBe('Timed out after 300 ms');
  });

  it('aborts an endless body once it passes maxBytes, without reading it all', async () => {
    let sent = 0;
    let closed: Promise<unknown> | undefined;
    const base = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      closed = once(res, 'close');
      const chunk = Buffer.alloc(64 * 1024, 'a');
      const pump = () => {
        while (!res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
      };
      pump();
    });
    const started = Date.now();
    expect(await reasonOf(base, { ...local, maxBytes: 1024 * 1024 })).toBe('Response too large (over 1 MB)');
    await closed; // the client hung up, so the server stops streaming
    expect(Date.now() - started).toBeLessThan(1000);
    expect(sent).toBeLessThan(64 * 1024 * 1024);
  });

  it('refuses a declared Content-Length above maxBytes before reading', async () => {
    const base = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html', 'content-length': 10_000_000 });
      res.write('<p>start</p>'); // and then nothing: reading would hang until the timeout
    });
    expect(await reasonOf(base, { ...local, maxBytes: 100_000, timeoutMs: 2000 })).toBe(
      'Response too large (over 98 KB)',
    );
  });

  it.each([404, 500])('reports HTTP %i', async (status) => {
    const base = await serve((_req, res) =>
      res.writeHead(status, { 'content-type': 'text/html' }).end('<p>Oops</p>'),
    );
    expect(await reasonOf(base)).toBe(`HTTP ${status}`);
  });

  it.each([
    ['application/pdf', 'application/pdf'],
    ['image/png', 'image/png'],
    [undefined, 'application/octet-stream'],
  ])('refuses binary content type %s', async (contentType, shown) => {
    const base = await serve((_req, res) => {
      if (contentType) res.setHeader('content-type', contentType);
      res.end(Buffer.from([0x25, 0x50, 0x44, 0x46, 0x00, 0xff]));
    });
    expect(await reasonOf(base)).toBe(`Unsupported content type ${shown}`);
  });

  it('reports a page without text', async () => {
    const base = await serve(page('<html><body><nav>Menu</nav><script>app()</script>  </body></html>'));
    expect(await reasonOf(base)).toBe('No text found on the page');
  });

  it('reports a DNS failure', async () => {
    expect(await reasonOf('http://no-such-host.invalid/', { ...local, timeoutMs: 2000 })).toBe(
      'DNS lookup failed for no-such-host.invalid',
    );
  });

  it('reports a refused connection', async () => {
    const base = await serve(page('x'));
    await new Promise((resolve) => servers.pop()!.close(resolve));
    expect(await reasonOf(base)).toBe('Could not fetch the URL');
  });
});
