import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { fetch, request } from 'undici';
import type { FlakyServer } from '../src/simulate/flaky-server.js';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { dispatcherFor, flakyServer } from '../../../test/support/helpers.js';

/**
 * One connection per origin, so the second request surely reuses the first's socket
 * (with more, undici may open a new one before the first is marked free).
 * Every request on a reused connection is dropped unanswered, as when the
 * server closes an idle keep-alive connection just as the request arrives.
 * Fresh connections are served normally.
 */
function staleServer(t: { after(fn: () => Promise<void>): void }): Promise<FlakyServer> {
  return flakyServer(t, { idleCloseMs: 60_000, raceWindowMs: 60_000 });
}

function recordChannel(t: { after(fn: () => void): void }, name: string): unknown[] {
  const seen: unknown[] = [];
  const listener = (message: unknown) => seen.push(message);
  diagnosticsChannel.subscribe(name, listener);
  t.after(() => diagnosticsChannel.unsubscribe(name, listener));
  return seen;
}

test('a GET that fails on a reused socket is replayed at once on a fresh connection', async (t) => {
  const server = await staleServer(t);
  const dispatcher = dispatcherFor(t, { connections: 1 });
  const replays = recordChannel(t, 'holdfast:client:replay');
  const retries = recordChannel(t, 'holdfast:client:retry');

  const first = await request(`${server.url}/a`, { dispatcher });
  await first.body.dump();
  const second = await request(`${server.url}/b`, { dispatcher });
  assert.equal(second.statusCode, 200);
  await second.body.dump();

  const stats = server.stats();
  assert.equal(stats.dropped, 1, 'the server did drop the request on the reused socket');
  assert.equal(stats.processedByMethod.GET, 2);
  assert.equal(stats.connections, 2, 'the replay went out on a new connection');
  assert.equal(replays.length, 1);
  assert.equal(retries.length, 0, 'a replay is not a backoff retry');
});

test('fetch with the dispatcher recovers the same way', async (t) => {
  const server = await staleServer(t);
  const dispatcher = dispatcherFor(t, { connections: 1 });
  assert.equal((await fetch(server.url, { dispatcher }).then((r) => r.text())).length > 0, true);
  const res = await fetch(server.url, { dispatcher });
  assert.equal(res.status, 200);
  await res.text();
  assert.equal(server.stats().dropped, 1);
});

test('a POST without Idempotency-Key is never sent twice: it fails with HF_ERR_STALE_SOCKET', async (t) => {
  const server = await staleServer(t);
  const dispatcher = dispatcherFor(t, { connections: 1 });
  await (await request(server.url, { dispatcher })).body.dump();

  await assert.rejects(
    request(server.url, { dispatcher, method: 'POST', body: 'x', headers: { 'x-request-id': 'p1' } }),
    (err: { code: string; attempts: number; cause: { code: string } }) => {
      assert.equal(err.code, 'HF_ERR_STALE_SOCKET');
      assert.equal(err.attempts, 1);
      assert.match(err.cause.code, /UND_ERR_SOCKET|ECONNRESET/);
      return true;
    },
  );
  const stats = server.stats();
  assert.equal(stats.received, 2, 'the POST reached the server once');
  assert.equal(stats.dropped, 1, 'and the server really dropped it');
  assert.equal(stats.processedById.p1, undefined);
});

test('a POST with an Idempotency-Key is replayed and applied exactly once', async (t) => {
  const server = await staleServer(t);
  const dispatcher = dispatcherFor(t, { connections: 1 });
  await (await request(server.url, { dispatcher })).body.dump();

  const res = await request(server.url, {
    dispatcher, method: 'POST', body: '{"a":1}',
    headers: { 'idempotency-key': 'k1', 'x-request-id': 'p2' },
  });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  assert.equal(server.stats().processedById.p2, 1);
  assert.deepEqual(server.duplicates(), []);
});

test('the same failure with RST instead of FIN is replayed too', async (t) => {
  const server = await flakyServer(t, { idleCloseMs: 60_000, raceWindowMs: 60_000, closeWith: 'rst' });
  const dispatcher = dispatcherFor(t, { connections: 1 });
  await (await request(server.url, { dispatcher })).body.dump();
  const res = await request(server.url, { dispatcher, method: 'DELETE' });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  assert.equal(server.stats().dropped, 1);
});

test('without replay or retries, the stale socket failure reaches the caller', async (t) => {
  const server = await staleServer(t);
  const dispatcher = dispatcherFor(t, { connections: 1, replay: false, retry: { maxAttempts: 1 } });
  await (await request(server.url, { dispatcher })).body.dump();
  await assert.rejects(request(server.url, { dispatcher }), { code: 'HF_ERR_STALE_SOCKET' });
});

test('without replay, a stale GET is still recovered by a retry, after a backoff', async (t) => {
  const server = await staleServer(t);
  const clock = new FakeClock({ autoAdvance: true });
  const dispatcher = dispatcherFor(t, { connections: 1, replay: false, retry: { baseDelayMs: 100 } }, clock);
  await (await request(server.url, { dispatcher })).body.dump();
  const res = await request(server.url, { dispatcher });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  assert.equal(clock.waits.length, 1, 'one backoff wait');
  assert.ok(clock.waits[0]! < 100);
});

test('attempts on the final error count the replay: stale socket, then the fresh connection refused', async (t) => {
  // A raw server: answers the first request with keep-alive, then stops listening (new
  // connections are refused) and drops the next request on the kept socket unanswered.
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    let requests = 0;
    socket.on('data', () => {
      if (++requests === 1) {
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
        server.close();
      } else {
        socket.destroy();
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  t.after(() => { for (const s of sockets) s.destroy(); });
  const dispatcher = dispatcherFor(t, { connections: 1, retry: { maxAttempts: 1 } });
  await (await request(`http://127.0.0.1:${port}/`, { dispatcher })).body.dump();
  await assert.rejects(request(`http://127.0.0.1:${port}/`, { dispatcher }), (err: { code: string; attempts: number }) => {
    assert.equal(err.code, 'HF_ERR_CONNECT');
    assert.equal(err.attempts, 2, 'the stale attempt and its replay');
    return true;
  });
});

test('each dispatcher reports its own replays (onReplay), not another one\'s: the proxy counts them without a process-wide channel (issue 18)', async (t) => {
  const server = await staleServer(t);
  const mine = dispatcherFor(t, { connections: 1 });
  const other = dispatcherFor(t, { connections: 1 });
  const seen: { mine: string[]; other: string[] } = { mine: [], other: [] };
  const off = mine.onReplay(({ path }) => seen.mine.push(path));
  other.onReplay(({ path }) => seen.other.push(path));
  for (const path of ['/a', '/b']) await (await request(`${server.url}${path}`, { dispatcher: mine })).body.dump();
  assert.deepEqual(seen, { mine: ['/b'], other: [] });
  off();
  await (await request(`${server.url}/c`, { dispatcher: mine })).body.dump();
  assert.deepEqual(seen.mine, ['/b'], 'unsubscribed');
});

test('holdfast.onAttempt hears each attempt of its own request and why: first, then replay (what the proxy\'s access log counts)', async (t) => {
  const server = await staleServer(t);
  const dispatcher = dispatcherFor(t, { connections: 1 });
  const heard: [string, number, string][] = [];
  for (const path of ['/a', '/b']) {
    const res = await request(`${server.url}${path}`, { dispatcher, holdfast: { onAttempt: (attempt, reason) => heard.push([path, attempt, reason]) } });
    await res.body.dump();
  }
  assert.deepEqual(heard, [['/a', 1, 'first'], ['/b', 1, 'first'], ['/b', 2, 'replay']]);
});
