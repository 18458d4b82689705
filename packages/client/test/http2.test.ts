/**
 * Issue 20, item 6: HTTP/2 to origins (`http2: true`, negotiated by ALPN), and its own
 * stale-connection failure, the GOAWAY. Streams above its last-stream-id were not processed
 * and are sent again on a new session, whatever their method; streams at or below it are
 * answered on the old one and never sent twice. Real TLS, real node:http2 server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http2, { type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';
import diagnosticsChannel from 'node:diagnostics_channel';
import { request } from 'undici';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { dispatcherFor } from '../../../test/support/helpers.js';
import { selfSignedCertificate } from '../../../test/support/tls-fixtures.js';

/**
 * Destroys the server's sessions at the end of the test, before the server closes: on Node 22
 * an http2 server's close waits for its sessions, which the client keeps until its own close.
 */
function closeSessionsAfter(t: { after(fn: () => Promise<void>): void }, server: http2.Http2SecureServer): Set<http2.ServerHttp2Session> {
  const open = new Set<http2.ServerHttp2Session>();
  t.after(async () => {
    for (const session of open) session.destroy();
  });
  server.on('session', (session) => session.once('close', () => open.delete(session)));
  return open;
}

interface H2Origin {
  url: string;
  /** ALPN protocol of each TLS connection, in order. */
  alpn: Array<string | false | null>;
  sessions: number;
  received: Map<string, number>;
  applied: Map<string, number>;
  /** Ids of the requests whose stream was at or below the GOAWAY's last-stream-id. */
  atOrBelow: Set<string>;
}

/** An h2 (and HTTP/1.1) origin; with `goawayAfter`, the first session sends GOAWAY once that many streams are open. */
async function h2Origin(t: { after(fn: () => Promise<void>): void }, goawayAfter = 0): Promise<H2Origin> {
  const { key, cert } = selfSignedCertificate();
  const origin: H2Origin = { url: '', alpn: [], sessions: 0, received: new Map(), applied: new Map(), atOrBelow: new Set() };
  const answer = (stream: ServerHttp2Stream, id: string) => {
    if (stream.destroyed || stream.closed) return;
    origin.applied.set(id, (origin.applied.get(id) ?? 0) + 1);
    stream.respond({ ':status': 200, 'content-type': 'text/plain' });
    stream.end(id);
  };
  const server = http2.createSecureServer({ key, cert, allowHTTP1: true }, (req, res) => {
    if (req.httpVersion === '2.0') return; // answered on 'stream'
    res.end('h1');
  });
  server.on('secureConnection', (socket: TLSSocket) => origin.alpn.push(socket.alpnProtocol));
  const open = closeSessionsAfter(t, server);
  server.on('session', (session) => {
    open.add(session);
    const first = origin.sessions++ === 0;
    const held: Array<[ServerHttp2Stream, string]> = [];
    session.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
      const id = String(headers['x-request-id']);
      origin.received.set(id, (origin.received.get(id) ?? 0) + 1);
      stream.on('error', () => {});
      if (!first || goawayAfter === 0) return void stream.on('data', () => {}).once('end', () => answer(stream, id));
      held.push([stream, id]);
      if (held.length !== goawayAfter) return;
      // Under load: half the open streams are accepted, the rest refused by the GOAWAY.
      const last = held[Math.floor(goawayAfter / 2) - 1]![0].id!;
      session.goaway(http2.constants.NGHTTP2_NO_ERROR, last);
      for (const [s, sid] of held) {
        if (s.id! > last) continue;
        origin.atOrBelow.add(sid);
        if (s.readableEnded) answer(s, sid);
        else s.on('data', () => {}).once('end', () => answer(s, sid));
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    server.close();
    await once(server, 'close');
  });
  origin.url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
  return origin;
}

test('http2: true negotiates h2 by ALPN and multiplexes concurrent requests on one session', async (t) => {
  const origin = await h2Origin(t);
  const { cert } = selfSignedCertificate();
  const dispatcher = dispatcherFor(t, { http2: true, connections: 1, tls: { ca: cert } });
  const answers = await Promise.all(Array.from({ length: 20 }, async (_, i) => {
    const res = await request(`${origin.url}/x`, { dispatcher, headers: { 'x-request-id': `r${i}` } });
    return res.body.text();
  }));
  assert.deepEqual(answers, Array.from({ length: 20 }, (_, i) => `r${i}`));
  assert.deepEqual(origin.alpn, ['h2']);
  assert.equal(origin.sessions, 1);
});

test('by default ALPN offers only http/1.1', async (t) => {
  const { key, cert } = selfSignedCertificate();
  const offered: string[][] = [];
  const server = createHttpsServer({ key, cert, ALPNCallback: ({ protocols }) => { offered.push(protocols); return 'http/1.1'; } }, (_req, res) => res.end('h1'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => { server.closeAllConnections(); server.close(); await once(server, 'close'); });
  const dispatcher = dispatcherFor(t, { tls: { ca: cert } });
  const res = await request(`https://127.0.0.1:${(server.address() as { port: number }).port}/x`, { dispatcher });
  assert.equal(await res.body.text(), 'h1');
  assert.deepEqual(offered, [['http/1.1']]);
});

test('a GOAWAY under load loses no request and sends none at or below last-stream-id twice, whatever the method', async (t) => {
  const origin = await h2Origin(t, 16);
  const { cert } = selfSignedCertificate();
  const dispatcher = dispatcherFor(t, { http2: true, connections: 1, tls: { ca: cert } });
  const ids = Array.from({ length: 24 }, (_, i) => `r${i}`);
  const statuses = await Promise.all(ids.map(async (id, i) => {
    // Half are POSTs without an Idempotency-Key: above last-stream-id they were not processed, so they go again too.
    const res = await request(`${origin.url}/items`, { dispatcher, method: i % 2 === 0 ? 'GET' : 'POST', body: i % 2 === 0 ? undefined : `{"n":${i}}`, headers: { 'x-request-id': id } });
    await res.body.text();
    return res.statusCode;
  }));
  assert.deepEqual(statuses, ids.map(() => 200), 'no request lost');
  assert.equal(origin.atOrBelow.size, 8, 'the GOAWAY accepted 8 streams');
  for (const id of ids) assert.equal(origin.applied.get(id), 1, `${id} applied exactly once`);
  for (const id of origin.atOrBelow) assert.equal(origin.received.get(id), 1, `${id} (at or below last-stream-id) sent once`);
  assert.ok(origin.sessions >= 2, 'the rest went on a new session');
});

/** An h2 origin that answers each request id only on its `refusals + 1`th stream, resetting the ones before with `code`. */
async function resettingOrigin(t: { after(fn: () => Promise<void>): void }, code: number, refusals: number): Promise<{ url: string; received: Map<string, number>; applied: Map<string, number> }> {
  const { key, cert } = selfSignedCertificate();
  const received = new Map<string, number>();
  const applied = new Map<string, number>();
  const server = http2.createSecureServer({ key, cert });
  const open = closeSessionsAfter(t, server);
  server.on('session', (session) => open.add(session));
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const id = String(headers['x-request-id']);
    const n = (received.get(id) ?? 0) + 1;
    received.set(id, n);
    stream.on('error', () => {});
    if (n <= refusals) return void stream.close(code);
    stream.on('data', () => {}).once('end', () => {
      applied.set(id, (applied.get(id) ?? 0) + 1);
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => { server.close(); await once(server, 'close'); });
  return { url: `https://127.0.0.1:${(server.address() as { port: number }).port}`, received, applied };
}

test('REFUSED_STREAM is always safe to send again: a POST without a key refused twice is retried, and applied once', async (t) => {
  const origin = await resettingOrigin(t, http2.constants.NGHTTP2_REFUSED_STREAM, 2);
  const { cert } = selfSignedCertificate();
  const dispatcher = dispatcherFor(t, { http2: true, tls: { ca: cert }, retry: { baseDelayMs: 1, maxDelayMs: 1 } });
  const res = await request(`${origin.url}/items`, { dispatcher, method: 'POST', body: '{}', headers: { 'x-request-id': 'p1' } });
  assert.equal(res.statusCode, 200);
  await res.body.text();
  assert.equal(origin.received.get('p1'), 3, 'undici retried once on the session, holdfast once more');
  assert.equal(origin.applied.get('p1'), 1);
});

test('a stream reset (as by a middlebox) is a socket reset for that stream: a GET is sent again, an unkeyed POST is not', async (t) => {
  const origin = await resettingOrigin(t, http2.constants.NGHTTP2_INTERNAL_ERROR, 1);
  const { cert } = selfSignedCertificate();
  const dispatcher = dispatcherFor(t, { http2: true, tls: { ca: cert }, retry: { baseDelayMs: 1, maxDelayMs: 1 } });
  const res = await request(`${origin.url}/items`, { dispatcher, headers: { 'x-request-id': 'g1' } });
  assert.equal(res.statusCode, 200);
  await res.body.text();
  assert.equal(origin.received.get('g1'), 2);
  await assert.rejects(request(`${origin.url}/items`, { dispatcher, method: 'POST', body: '{}', headers: { 'x-request-id': 'p1' } }), (err: { code: string; delivery: string }) => {
    assert.match(err.code, /^HF_ERR_(SOCKET|STALE_SOCKET)$/);
    assert.equal(err.delivery, 'sent-no-response');
    return true;
  });
  assert.equal(origin.received.get('p1'), 1, 'the POST was not sent twice');
});

test('an idle HTTP/2 session is aligned like an idle socket: retired at the idle limit', async (t) => {
  const origin = await h2Origin(t);
  const { cert } = selfSignedCertificate();
  const clock = new FakeClock();
  const dispatcher = dispatcherFor(t, { http2: true, tls: { ca: cert } }, clock);
  const retired = new Promise<unknown>((resolve) => {
    const listener = (message: unknown) => { diagnosticsChannel.unsubscribe('holdfast:client:socket-retired', listener); resolve(message); };
    diagnosticsChannel.subscribe('holdfast:client:socket-retired', listener);
  });
  await (await request(`${origin.url}/x`, { dispatcher, headers: { 'x-request-id': 'a' } })).body.text();
  await (await request(`${origin.url}/x`, { dispatcher, headers: { 'x-request-id': 'b' } })).body.text();
  assert.equal(origin.sessions, 1);
  clock.advance(4000);
  assert.deepEqual(await retired, { origin: origin.url, reason: 'idle-limit', idleMs: 4000 });
  await (await request(`${origin.url}/x`, { dispatcher, headers: { 'x-request-id': 'c' } })).body.text();
  assert.equal(origin.sessions, 2, 'the next request opened a new session');
});
