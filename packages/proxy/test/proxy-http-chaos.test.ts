import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { setTimeout as pause } from 'node:timers/promises';
import { Pool } from 'undici';
import { closedPort, serveCommand } from '../../../test/support/helpers.js';
import { fetchOnce, startUpstream, type Upstream } from '../../../test/support/http-upstream.js';
import { startProxy, type ProxyProcess } from '../../../test/support/proxy-harness.js';

/**
 * The HTTP reverse proxy under the failures of upstreams and clients. One proxy process
 * serves every case; after each, it must be alive, hold no client connection, and have no
 * more descriptors open than at the start plus its pooled upstream connections (which the
 * admin API counts).
 */

type Hooks = { after(fn: () => Promise<void> | void): void };
const cleanups: (() => Promise<void> | void)[] = [];
const suite: Hooks = { after: (fn) => { cleanups.push(fn); } };

const IDLE_CLOSE_MS = 300;
/** The upstream drops a request that arrives on a connection idle for more than IDLE_CLOSE_MS − this (it "already closed" it). */
const RACE_WINDOW_MS = 150;
const HEADERS_TIMEOUT_MS = 500;

/** The raw bytes a request gets back, until the proxy closes the connection. */
async function rawExchange(port: number, request: string): Promise<string> {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  let data = '';
  socket.on('data', (chunk: Buffer) => { data += chunk.toString('latin1'); });
  socket.end(request);
  await new Promise((resolve) => socket.once('close', resolve));
  return data;
}

describe('HTTP proxy chaos: clients see the right status, and nothing is left open', () => {
  let proxy: ProxyProcess;
  let baseline: number;
  let port: number;
  let app: Upstream;
  let flakyPort: number;

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  before(async () => {
    app = await startUpstream(suite, 'app');
    flakyPort = Number(new URL((await serveCommand(suite, ['simulate', 'flaky', '--idle-close', String(IDLE_CLOSE_MS), '--race-window', String(RACE_WINDOW_MS)])).url).port);
    const refusedA = await closedPort();
    const refusedB = await closedPort();
    port = await closedPort();
    const at = (p: number) => `127.0.0.1:${p}`;
    proxy = await startProxy(suite, {
      upstreams: [
        { name: 'flaky', targets: [at(flakyPort)] },
        { name: 'slow', targets: [at(app.port)], timeouts: { responseMs: 200 } },
        { name: 'down', targets: [at(refusedA), at(refusedB)], outlier: { consecutiveFailures: 2, ejectMs: 60_000 } },
        { name: 'app', targets: [at(app.port)] },
      ],
      listeners: [{ name: 'web', host: '127.0.0.1', port }],
      http: { headersTimeoutMs: HEADERS_TIMEOUT_MS },
      routes: [{
        name: 'web', action: {
          type: 'http', routes: [
            { name: 'flaky', match: { pathPrefix: '/flaky' }, action: { type: 'proxy', upstream: 'flaky' } },
            { name: 'slow', match: { pathPrefix: '/slow' }, action: { type: 'proxy', upstream: 'slow' } },
            { name: 'down', match: { pathPrefix: '/down' }, action: { type: 'proxy', upstream: 'down' } },
            { name: 'app', action: { type: 'proxy', upstream: 'app' } },
          ],
        },
      }],
    });
    await proxy.active(); // the admin connection is part of the baseline
    baseline = proxy.fds();
  });

  /**
   * After every case: alive, no client connection open, no descriptor beyond the baseline but
   * the pooled upstream connections. A sentinel connection, seen accepted, proves every
   * connection of the case has reached the proxy (accepts are in order).
   */
  async function settled(): Promise<void> {
    const sentinel = connect({ host: '127.0.0.1', port });
    sentinel.on('error', () => {});
    await once(sentinel, 'connect');
    await proxy.log.waitFor((l) => l.msg === 'connection opened' && l.clientPort === sentinel.localPort);
    sentinel.destroy();
    await proxy.idle();
    assert.equal(proxy.child.exitCode, null, 'the proxy process is alive');
    const { upstreamSockets } = JSON.parse((await proxy.admin('/connections?limit=0')).text) as { upstreamSockets: number };
    assert.ok(proxy.fds() <= baseline + upstreamSockets, `open fds ${proxy.fds()} <= baseline ${baseline} + ${upstreamSockets} pooled upstream sockets`);
  }

  test('the upstream dies mid-response: the client sees the response cut off, the proxy stays up', async () => {
    app.routes.set('/dies', (_req, res) => {
      res.writeHead(200, { 'content-length': '100000' });
      res.write(Buffer.alloc(1000, 'x'), () => res.socket!.destroy());
    });
    const outcomes = await Promise.all(Array.from({ length: 10 }, () => fetchOnce(port, '/dies').then(() => 'complete', (err: NodeJS.ErrnoException) => err.code ?? err.message)));
    for (const outcome of outcomes) assert.notEqual(outcome, 'complete', 'a cut-off body is never presented as complete');
    await settled();
  });

  test('the upstream idle-closes at the boundary (holdfast simulate flaky): 0 client-visible errors for GETs', async () => {
    const client = new Pool(`http://127.0.0.1:${port}`, { connections: 1 });
    const statuses: number[] = [];
    // Each GET lands on the pooled upstream connection near its unannounced idle close: the first
    // in the middle of the race window (the upstream drops it unanswered, as a server that has
    // just closed would), the others within ±40 ms of the close.
    for (let i = 0; i < 16; i++) {
      const { statusCode, body } = await client.request({ path: `/flaky/${i}`, method: 'GET' });
      await body.dump();
      statuses.push(statusCode);
      const gap = i === 0 ? IDLE_CLOSE_MS - RACE_WINDOW_MS / 2 : IDLE_CLOSE_MS - 40 + ((i * 37) % 80);
      await pause(gap); // the workload's schedule, not a wait for a condition
    }
    await client.close();
    assert.deepEqual(statuses, Array.from({ length: 16 }, () => 200));
    const stats = await fetchOnce(flakyPort, '/__flaky/stats');
    const { received, dropped } = JSON.parse(stats.body) as { received: number; dropped: number };
    const metrics = (await proxy.admin('/metrics')).text;
    const replays = Number(/holdfast_proxy_http_replays_total\{upstream="flaky",target="127\.0\.0\.1:\d+"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    // The race happened (the upstream dropped requests or closed under them) and was absorbed by replays.
    assert.ok(dropped >= 1 && replays >= dropped, `replays ${replays}, dropped ${dropped}, received ${received}`);
    await settled();
  });

  test('a slow upstream hits the response timeout: 504 with HF_ERR_RESPONSE_TIMEOUT', async () => {
    // undici times response headers with its coarse timers (ticks of half a second), so a
    // 200 ms limit fires at 200 ms to about 1.2 s: the answer comes well after that (CI on Node 22
    // once saw a 1 s answer win the race).
    app.routes.set('/slow', (_req, res) => { setTimeout(() => res.end('late'), 3_000).unref(); });
    const answer = await fetchOnce(port, '/slow');
    assert.deepEqual([answer.status, answer.headers['holdfast-error']], [504, 'HF_ERR_RESPONSE_TIMEOUT']);
    await settled();
  });

  test('every target down: 502 while they fail, then 503 at once once they are ejected', async () => {
    const first = await fetchOnce(port, '/down');
    assert.deepEqual([first.status, first.headers['holdfast-error']], [502, 'HF_ERR_CONNECT']);
    await fetchOnce(port, '/down'); // the second failure of each target ejects it
    const ejected = await Promise.all(Array.from({ length: 20 }, () => fetchOnce(port, '/down')));
    for (const answer of ejected) assert.deepEqual([answer.status, answer.headers['holdfast-error']], [503, 'HF_ERR_NO_UPSTREAM']);
    // Regression: an error answer to a request without a body kept its keep-alive connection open.
    const client = new Pool(`http://127.0.0.1:${port}`, { connections: 1 });
    let connects = 0;
    client.on('connect', () => { connects++; });
    for (let i = 0; i < 5; i++) {
      const { statusCode, body } = await client.request({ path: '/down', method: 'GET' });
      await body.dump();
      assert.equal(statusCode, 503);
    }
    await client.close();
    assert.equal(connects, 1, 'five 503s on one keep-alive connection');
    const metrics = (await proxy.admin('/metrics')).text;
    assert.match(metrics, /holdfast_proxy_http_ejections_total\{upstream="down",target="[^"]+"\} 1/);
    assert.match(metrics, /holdfast_proxy_http_requests_total\{route="down",status="503",target="none"\} 25/);
    await settled();
  });

  test('a client that aborts mid-upload aborts the upstream request (a body past http.bufferRequestBodyBytes, which streams)', async () => {
    let arrived!: () => void;
    const upstreamHasIt = new Promise<void>((resolve) => { arrived = resolve; });
    const upstreamSawAbort = new Promise<void>((resolve) => {
      app.routes.set('/upload', (req) => {
        arrived();
        req.on('close', () => { if (!req.complete) resolve(); });
        req.resume();
      });
    });
    const socket: Socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write('POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 3000000\r\n\r\n');
    socket.write(Buffer.alloc(1_100_000, 'u')); // past the 1 MiB read before going upstream
    await upstreamHasIt; // the upload is under way upstream; now the client goes
    socket.destroy();
    await upstreamSawAbort;
    await settled();
  });

  test('bodies stream both ways with backpressure: a client that stops reading stops the upstream', async () => {
    const total = 16 * 1024 * 1024;
    let upstreamBlocked!: () => void;
    let upstreamNeverBlocked!: (err: Error) => void;
    const blocked = new Promise<void>((resolve, reject) => { upstreamBlocked = resolve; upstreamNeverBlocked = reject; });
    // Writes in 4,000-byte pieces and yields every 16 kB, so that a write returns false only
    // when the kernel refuses more: when the proxy has stopped reading from this upstream.
    app.routes.set('/bulk', (_req, res) => {
      res.writeHead(200, { 'content-length': String(total) });
      const piece = Buffer.alloc(4000, 'd');
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          const ok = res.write(piece.subarray(0, Math.min(piece.length, total - sent)));
          sent += piece.length;
          if (!ok) {
            upstreamBlocked();
            return void res.once('drain', pump);
          }
          if (sent % 16_000 === 0) return void setImmediate(pump);
        }
        res.end();
        upstreamNeverBlocked(new Error('the upstream wrote the whole body to a client that reads nothing: the proxy buffered it'));
      };
      pump();
    });
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.pause(); // reads nothing until the upstream is held back
    socket.write('GET /bulk HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    await blocked; // the proxy stopped reading from the upstream instead of buffering 32 MiB
    let received = 0;
    socket.on('data', (data: Buffer) => { received += data.length; });
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve));
    assert.ok(received > total && received < total + 1024, `received ${received} bytes, headers included`);

    const upload = Buffer.alloc(5 * 1024 * 1024, 'u');
    const answer = await fetchOnce(port, '/info', { method: 'PUT', headers: { 'transfer-encoding': 'chunked' }, body: upload });
    assert.equal((JSON.parse(answer.body) as { bodyBytes: number }).bodyBytes, upload.length);
    await settled();
  });

  test('request smuggling vectors are refused with 400 before any route', async () => {
    const before = app.hits.get('/smuggle') ?? 0;
    const vectors = [
      'POST /smuggle HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'POST /smuggle HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde',
      'POST /smuggle HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
      'GET /smuggle HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n',
      'GET /smuggle HTTP/1.1\r\nHost: a\r\nX-Bad: a\u0001b\r\n\r\n',
      'POST /smuggle HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
    ];
    for (const vector of vectors) {
      const reply = await rawExchange(port, vector);
      assert.match(reply, /^HTTP\/1\.1 400 /, JSON.stringify(vector));
    }
    const oversized = await rawExchange(port, `GET /smuggle HTTP/1.1\r\nHost: a\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`);
    assert.match(oversized, /^HTTP\/1\.1 431 /, 'headers over http.maxHeaderBytes');
    assert.equal(app.hits.get('/smuggle') ?? 0, before, 'no vector reached the upstream');
    await settled();
  });

  test('regression: a client that resets or ends its connection mid-request is no refused request', async () => {
    const count = async (pattern: RegExp) => Number(pattern.exec((await proxy.admin('/metrics')).text)?.[1] ?? 0);
    const refused = /holdfast_proxy_http_refused_total\{reason="bad-request"\} (\d+)/;
    const before = await count(refused);
    const partial = 'GET /info HTTP/1.1\r\nHost: a\r\n'; // the request's headers never end
    // A reset: Node reports ECONNRESET, or, when the kernel hands the reader an end instead
    // (seen on a loaded machine), the end of a request cut short.
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    await once(socket, 'connect');
    await proxy.log.waitFor((l) => l.msg === 'connection opened' && l.clientPort === socket.localPort);
    await new Promise((resolve) => socket.write(partial, resolve));
    socket.resetAndDestroy();
    await settled();
    assert.equal(await count(refused), before, 'a reset is not a refused request');
    // The same request ended by a FIN.
    await rawExchange(port, partial);
    await settled();
    assert.equal(await count(refused), before, 'a request its client cut short is not a refused request');
  });

  test('slowloris: clients that send headers slowly are cut off at headersTimeoutMs', async () => {
    const clients = await Promise.all(Array.from({ length: 20 }, async () => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.on('error', () => {});
      await once(socket, 'connect');
      socket.write('GET / HTTP/1.1\r\nHost: a\r\n');
      let reply = '';
      socket.on('data', (chunk: Buffer) => { reply += chunk.toString('latin1'); });
      // One header line every 100 ms, forever: each line resets no timer.
      const drip = setInterval(() => socket.write(`X-Drip-${Date.now()}: x\r\n`), 100);
      await new Promise((resolve) => socket.once('close', resolve));
      clearInterval(drip);
      return reply;
    }));
    for (const reply of clients) assert.match(reply, /^HTTP\/1\.1 408 /);
    await settled();
  });

  test('the proxy is still healthy and serving after every case', async () => {
    const answer = await fetchOnce(port, '/info');
    assert.equal(answer.status, 200);
    assert.equal((await proxy.admin('/healthz')).status, 200);
    await settled();
  });
});
