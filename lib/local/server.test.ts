import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { route } from '#lib/http/route.ts';
import { createLocalServer, MAX_RESPONSE_BYTES } from './server.ts';

const big = route({
  handler: 'test.big',
  method: 'GET',
  path: '/big/{size}',
  auth: 'public',
  summary: 'A body of the size asked for',
  tags: [],
  response: { status: 200 },
});

// The same, answered as a bare value (payload format 2.0 lets a function return one).
const bare = route({ ...big, handler: 'test.bare', path: '/bare/{size}' });

const server = createLocalServer({
  routes: [big, bare],
  corsOrigins: [],
  // A handler that answers `size` bytes of JSON string, as a list over the limit would.
  handlerOf: async (r) => async (event) => {
    const text = 'x'.repeat(Number(event.pathParameters?.size));
    if (r === bare) return text as never;
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(text) };
  },
});
let url: string;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));

describe('the local runtime as Lambda and API Gateway', () => {
  it('refuses a response over Lambda’s 6 MB payload limit with a 500, as API Gateway answers', async () => {
    const over = await fetch(`${url}/big/${MAX_RESPONSE_BYTES}`);
    expect(over.status).toBe(500);
    expect(over.headers.get('content-type')).toBe('application/problem+json');
    const problem = (await over.json()) as { request_id: string };
    expect(problem.request_id).toBe(over.headers.get('x-request-id'));

    expect((await fetch(`${url}/bare/${MAX_RESPONSE_BYTES}`)).status).toBe(500);

    const under = await fetch(`${url}/big/${MAX_RESPONSE_BYTES - 1000}`);
    expect(under.status).toBe(200);
    expect((await under.text()).length).toBe(MAX_RESPONSE_BYTES - 1000 + 2);
  });

  it('answers HEAD like GET without the body, as API Gateway does for a GET route', async () => {
    const get = await fetch(`${url}/big/10`);
    const head = await fetch(`${url}/big/10`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe(get.headers.get('content-type'));
    // With its length, not chunked, as API Gateway answers.
    expect(get.headers.get('content-length')).toBe('12');
    expect(head.headers.get('content-length')).toBe(String((await get.text()).length));
    expect(await head.text()).toBe('');

    const wrong = await fetch(`${url}/big/10`, { method: 'DELETE' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, HEAD');
  });
});
