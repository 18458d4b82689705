// holdfast's dispatcher through every fetch and undici its users have: this Node line's own
// fetch (undici 6 on Node 22, 7 on 24, 8 on 26), undici 8's fetch, request and stream, and
// setGlobalDispatcher. Each answer is compared with what the same caller gets from undici's
// own Agent. Regression: on Node 26, fetch(url, { dispatcher }) lost every header, returned
// gzip bodies undecoded and did not follow redirects (the controller carried no rawHeaders).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { Writable } from 'node:stream';
import { Agent, Dispatcher1Wrapper, fetch as undiciFetch, getGlobalDispatcher, request, setGlobalDispatcher, stream, type Dispatcher, type Response } from 'undici';
import { dispatcherFor } from '../../../test/support/helpers.js';

const BODY = 'holdfast '.repeat(200);

function route(req: IncomingMessage, res: ServerResponse): void {
  switch (req.url) {
    case '/headers':
      res.writeHead(200, [
        'Content-Type', 'text/plain; charset=utf-8',
        'Set-Cookie', 'a=1; Path=/',
        'Set-Cookie', 'b=2; HttpOnly',
        'Set-Cookie', 'c=3',
        'X-Custom', 'one',
        'x-custom', 'two',
        'Cache-Control', 'no-store',
      ]);
      res.end(BODY);
      return;
    case '/gzip':
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
      res.end(gzipSync(BODY));
      return;
    case '/br':
      res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'br' });
      res.end(brotliCompressSync(BODY));
      return;
    case '/redirect':
      res.writeHead(302, { location: '/headers', 'set-cookie': 'r=1' });
      res.end();
      return;
    case '/trailers':
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
      res.write(BODY);
      res.addTrailers({ 'x-checksum': 'abc123' });
      res.end();
      return;
    case '/silent':
      return; // no answer at all: the caller aborts while it waits for headers
    case '/hang':
      res.flushHeaders(); // headers, then nothing: the caller aborts while the body waits
      return;
    default:
      res.writeHead(404).end();
  }
}

async function server(t: { after(fn: () => Promise<void>): void }) {
  const sockets = new Set<Socket>();
  let connections = 0;
  const srv = createServer(route);
  srv.on('connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.after(async () => {
    srv.closeAllConnections();
    srv.close();
    await once(srv, 'close');
  });
  const { port } = srv.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, connections: () => connections, sockets };
}

interface Seen {
  status: number;
  url?: string;
  redirected?: boolean;
  headers: [string, string][];
  cookies: string[];
  body: string;
  trailers?: Record<string, unknown>;
}

type FetchLike = (url: string, init?: { dispatcher?: Dispatcher; signal?: AbortSignal }) => Promise<Response>;

async function viaFetch(fetchFn: FetchLike, url: string, dispatcher: Dispatcher | undefined): Promise<Seen> {
  const res = await fetchFn(url, dispatcher === undefined ? {} : { dispatcher });
  // Date differs between two answers; everything else must be the same.
  const headers = [...res.headers].filter(([name]) => name !== 'date' && name !== 'keep-alive');
  return { status: res.status, url: res.url, redirected: res.redirected, headers, cookies: res.headers.getSetCookie(), body: await res.text() };
}

async function viaRequest(url: string, dispatcher: Dispatcher | undefined): Promise<Seen> {
  const res = await request(url, dispatcher === undefined ? {} : { dispatcher });
  const body = await res.body.text();
  const headers = Object.entries(res.headers).filter(([name]) => name !== 'date' && name !== 'keep-alive').map(([k, v]) => [k, String(v)] as [string, string]);
  const cookies = res.headers['set-cookie'];
  return { status: res.statusCode, headers, cookies: Array.isArray(cookies) ? cookies : cookies === undefined ? [] : [cookies], body, trailers: { ...res.trailers } };
}

async function viaStream(url: string, dispatcher: Dispatcher): Promise<{ status: number; type: unknown; body: string; trailers: unknown }> {
  const chunks: Buffer[] = [];
  let status = 0;
  let type: unknown;
  const { trailers } = await stream(url, { dispatcher, method: 'GET' }, ({ statusCode, headers }) => {
    status = statusCode;
    type = headers['content-type'];
    return new Writable({ write(chunk: Buffer, _encoding, done) { chunks.push(chunk); done(); } });
  });
  return { status, type, body: Buffer.concat(chunks).toString(), trailers: { ...trailers } };
}

const FETCH_PATHS = ['/headers', '/gzip', '/br', '/redirect'];
const nodeLine = `Node ${process.versions.node} (bundled undici ${process.versions.undici})`;

describe(`holdfast through every fetch and undici on ${nodeLine}`, () => {
  // The reference is undici's own Agent, behind undici's own bridge for a fetch older than
  // undici 8 (which sends handlers of the older shape, as setGlobalDispatcher arranges too).
  const callers: [string, FetchLike, () => Dispatcher][] = [
    [`this Node's fetch`, globalThis.fetch as unknown as FetchLike, () => new Dispatcher1Wrapper(new Agent())],
    ['undici 8 fetch', undiciFetch as unknown as FetchLike, () => new Agent()],
  ];
  for (const [name, fetchFn, reference] of callers) {
    test(`${name} with { dispatcher }: status, every header, Set-Cookie, gzip and brotli, redirects as undici's own Agent`, async (t) => {
      const { url, connections } = await server(t);
      const holdfast = dispatcherFor(t);
      const agent = reference();
      t.after(() => agent.close());
      for (const path of FETCH_PATHS) {
        const expected = await viaFetch(fetchFn, url + path, agent);
        const actual = await viaFetch(fetchFn, url + path, holdfast);
        assert.deepEqual(actual, expected, path);
      }
      const headers = await viaFetch(fetchFn, `${url}/headers`, holdfast);
      assert.equal(headers.body, BODY);
      assert.deepEqual(headers.cookies, ['a=1; Path=/', 'b=2; HttpOnly', 'c=3']);
      assert.equal(headers.headers.find(([n]) => n === 'content-type')?.[1], 'text/plain; charset=utf-8');
      assert.equal((await viaFetch(fetchFn, `${url}/gzip`, holdfast)).body, BODY, 'gzip decoded');
      const redirected = await viaFetch(fetchFn, `${url}/redirect`, holdfast);
      assert.equal(redirected.redirected, true);
      assert.equal(redirected.url, `${url}/headers`);
      const before = connections();
      for (let i = 0; i < 5; i++) await viaFetch(fetchFn, `${url}/headers`, holdfast);
      assert.equal(connections(), before, 'back-to-back requests reuse one connection');
    });

    test(`${name}: an abort while the body waits rejects at once and frees the connection`, async (t) => {
      const { url, sockets } = await server(t);
      const holdfast = dispatcherFor(t);
      const controller = new AbortController();
      const res = await fetchFn(`${url}/hang`, { dispatcher: holdfast, signal: controller.signal });
      assert.equal(res.status, 200);
      const reading = res.text();
      controller.abort();
      await assert.rejects(reading, { name: 'AbortError' });
      while (sockets.size > 0) await once([...sockets][0]!, 'close');
    });
  }

  test('undici 8 request and stream: headers, Set-Cookie, body and trailers as undici\'s own Agent; an abort before the answer is HF_ERR_ABORTED', async (t) => {
    const { url } = await server(t);
    const holdfast = dispatcherFor(t);
    const agent = new Agent();
    t.after(() => agent.close());
    for (const path of ['/headers', '/gzip', '/trailers']) {
      assert.deepEqual(await viaRequest(url + path, holdfast), await viaRequest(url + path, agent), path);
    }
    assert.deepEqual((await viaRequest(`${url}/trailers`, holdfast)).trailers, { 'x-checksum': 'abc123' });
    assert.deepEqual(await viaStream(`${url}/trailers`, holdfast), await viaStream(`${url}/trailers`, agent), 'stream');
    const controller = new AbortController();
    const pending = request(`${url}/hang`, { dispatcher: holdfast, signal: controller.signal });
    const res = await pending;
    const reading = res.body.text();
    controller.abort();
    await assert.rejects(reading);
    const waiting = new AbortController();
    const silent = request(`${url}/silent`, { dispatcher: holdfast, signal: waiting.signal });
    setImmediate(() => waiting.abort());
    await assert.rejects(silent, { code: 'HF_ERR_ABORTED' });
  });

  test('setGlobalDispatcher: this Node\'s fetch and undici 8\'s fetch and request all go through holdfast', async (t) => {
    const { url } = await server(t);
    const holdfast = dispatcherFor(t);
    const previous = getGlobalDispatcher();
    setGlobalDispatcher(holdfast);
    t.after(() => setGlobalDispatcher(previous));
    for (const [name, fetchFn, reference] of callers) {
      const agent = reference();
      t.after(() => agent.close());
      for (const path of FETCH_PATHS) {
        assert.deepEqual(await viaFetch(fetchFn, url + path, undefined), await viaFetch(fetchFn, url + path, agent), `${name} ${path}`);
      }
    }
    const agent = new Agent();
    t.after(() => agent.close());
    assert.deepEqual(await viaRequest(`${url}/trailers`, undefined), await viaRequest(`${url}/trailers`, agent));
    assert.ok(holdfast.openSockets > 0, 'the global dispatcher carried them');
  });
});
