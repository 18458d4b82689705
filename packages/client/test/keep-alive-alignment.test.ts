import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { request, upgrade } from 'undici';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { dispatcherFor, flakyServer } from '../../../test/support/helpers.js';

function nextMessage(name: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const listener = (message: unknown) => {
      diagnosticsChannel.unsubscribe(name, listener);
      resolve(message as Record<string, unknown>);
    };
    diagnosticsChannel.subscribe(name, listener);
  });
}

test('the server hint sets the idle limit, and the socket is retired before the server would close it', async (t) => {
  const server = await flakyServer(t, { idleCloseMs: 2000, advertise: true });
  const clock = new FakeClock();
  const dispatcher = dispatcherFor(t, { connections: 1 }, clock);
  const res = await request(server.url, { dispatcher });
  assert.equal(res.headers['keep-alive'], 'timeout=2');
  await res.body.dump();

  assert.deepEqual(dispatcher.keepAlive(server.url), { idleLimitMs: 1500, hintMs: 2000, learnedMs: undefined });
  assert.equal(dispatcher.openSockets, 1);
  const retired = nextMessage('holdfast:client:socket-retired');
  clock.advance(1499);
  assert.equal(dispatcher.openSockets, 1, 'still open just before the limit');
  clock.advance(1);
  assert.equal((await retired).reason, 'idle-limit');
  await once(dispatcher, 'disconnect');
  assert.equal(dispatcher.openSockets, 0, 'closed by the client, 500 ms before the server would have');
});

test('an unadvertised idle close is learned from two separate closes of idle sockets, and the limit drops below it', async (t) => {
  const clock = new FakeClock();
  const server = await flakyServer(t, { idleCloseMs: 1000, clock });
  const dispatcher = dispatcherFor(t, { connections: 1 }, clock);
  for (const round of [1, 2]) {
    await (await request(server.url, { dispatcher })).body.dump();
    assert.equal(dispatcher.keepAlive(server.url)?.idleLimitMs, 4000, 'the safe default, before anything is known');
    const closed = nextMessage('holdfast:client:idle-close');
    clock.advance(1000);
    assert.deepEqual({ ...await closed }, { origin: server.url, idleMs: 1000, verdict: 'counted', learnedMs: round === 1 ? undefined : 1000 });
    clock.advance(2000); // the next close is its own observation, not part of a burst
  }
  assert.deepEqual(dispatcher.keepAlive(server.url), { idleLimitMs: 750, hintMs: undefined, learnedMs: 1000 });
});

test('a probe outlives a learned close the server no longer makes, and the limit goes back up', async (t) => {
  const clock = new FakeClock();
  const server = await flakyServer(t, { idleCloseMs: 1000, clock });
  const dispatcher = dispatcherFor(t, { connections: 1 }, clock);
  for (let i = 0; i < 2; i++) {
    await (await request(server.url, { dispatcher })).body.dump();
    const closed = nextMessage('holdfast:client:idle-close');
    clock.advance(1000);
    await closed;
    clock.advance(2000);
  }
  assert.equal(dispatcher.keepAlive(server.url)?.idleLimitMs, 750);
  server.configure({ idleCloseMs: 0 }); // say, a load balancer's timeout was raised
  await (await request(server.url, { dispatcher })).body.dump();
  const retired = nextMessage('holdfast:client:socket-retired');
  clock.advance(750);
  assert.equal(dispatcher.openSockets, 1, 'at the learned limit, the socket is kept as a probe');
  clock.advance(3250);
  assert.deepEqual({ ...await retired }, { origin: server.url, reason: 'probe-outlived', idleMs: 4000 });
  assert.deepEqual(dispatcher.keepAlive(server.url), { idleLimitMs: 4000, hintMs: undefined, learnedMs: undefined });
});

// silentDrop is off here: its own rule (packages/client/test/silent-drop.test.ts) keeps such a request
// off any socket idle 500 ms or more.
test('a non-idempotent request is not written to a socket idle for more than half the limit', async (t) => {
  const server = await flakyServer(t, {});
  const clock = new FakeClock();
  const dispatcher = dispatcherFor(t, { connections: 1, silentDrop: false }, clock);
  await (await request(server.url, { dispatcher })).body.dump();

  clock.advance(1500); // limit 4000: a GET may reuse, and so may a POST (under 2000)
  await (await request(server.url, { dispatcher, method: 'POST', body: 'a' })).body.dump();
  assert.equal(server.stats().connections, 1);

  clock.advance(2500); // 2500 > 2000: too idle for a POST, fine for a GET
  await (await request(server.url, { dispatcher })).body.dump();
  assert.equal(server.stats().connections, 1, 'the GET reused the socket');
  clock.advance(2500);
  const retired = nextMessage('holdfast:client:socket-retired');
  await (await request(server.url, { dispatcher, method: 'POST', body: 'b' })).body.dump();
  assert.equal((await retired).reason, 'unsafe-request');
  assert.equal(server.stats().connections, 2, 'the POST went out on a new connection');
});

// nodejs/undici#5022 (fixed in undici 8.2.0, #5034): once a pool's only socket was destroyed
// inside dispatch(), as the retirement above does, every back-to-back request after it got a
// new connection.
test('after a socket is retired inside dispatch(), back-to-back requests share one connection again', async (t) => {
  const server = await flakyServer(t, {});
  const clock = new FakeClock();
  const dispatcher = dispatcherFor(t, { connections: 1 }, clock);
  await (await request(server.url, { dispatcher })).body.dump();
  clock.advance(2500); // too idle for a POST: the socket is retired as the POST is dispatched
  await (await request(server.url, { dispatcher, method: 'POST', body: 'a' })).body.dump();
  assert.equal(server.stats().connections, 2);
  for (let i = 0; i < 10; i++) await (await request(server.url, { dispatcher })).body.dump();
  assert.equal(server.stats().connections, 2, 'the ten GETs reused the POST\'s connection');
});

test('a socket past its limit is retired at dispatch even when its timer was late (event loop stall)', async (t) => {
  const server = await flakyServer(t, {});
  let stalled = false;
  const clock = new FakeClock();
  // A clock whose background timers never fire: what a blocked event loop looks like to them.
  const stallingClock = { now: () => clock.now(), wallNow: () => clock.wallNow(), schedule: (fn: () => void, ms: number, o?: { ref?: boolean }) => (stalled ? () => {} : clock.schedule(fn, ms, o)), timer: clock.timer.bind(clock) };
  const dispatcher = dispatcherFor(t, { connections: 1 }, stallingClock);
  stalled = true;
  await (await request(server.url, { dispatcher })).body.dump();
  clock.advance(5000);
  const retired = nextMessage('holdfast:client:socket-retired');
  await (await request(server.url, { dispatcher })).body.dump();
  assert.equal((await retired).reason, 'idle-limit-late');
  assert.equal(server.stats().connections, 2);
});

test('Keep-Alive: timeout=0 means the socket is not reused', async (t) => {
  const server = await flakyServer(t, { idleCloseMs: 500, advertise: true });
  const dispatcher = dispatcherFor(t, { connections: 1 });
  await (await request(server.url, { dispatcher })).body.dump();
  await (await request(server.url, { dispatcher })).body.dump();
  assert.equal(dispatcher.keepAlive(server.url)?.idleLimitMs, 0);
  assert.equal(server.stats().connections, 2);
  assert.equal(server.stats().dropped, 0);
});

test('regression: an upgraded socket (a WebSocket) is handed over, never retired as an idle pooled one', async (t) => {
  // Found by the proxy's WebSocket test: the upgraded socket was marked idle and destroyed at the idle limit.
  const server = createServer();
  server.on('upgrade', (_req, socket: Socket) => {
    socket.on('error', () => {});
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
    socket.pipe(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => { server.closeAllConnections(); server.close(); });
  const clock = new FakeClock();
  const dispatcher = dispatcherFor(t, { connections: 1 }, clock);
  const { socket } = await upgrade(`http://127.0.0.1:${(server.address() as { port: number }).port}/`, { dispatcher, protocol: 'echo' });
  clock.advance(60_000); // far past any idle limit
  assert.equal(socket.destroyed, false);
  socket.write('ping');
  const [echoed] = (await once(socket, 'data')) as [Buffer];
  assert.equal(String(echoed), 'ping');
  socket.destroy(); // before the dispatcher's close, which waits for every socket it opened
  await once(socket, 'close');
});
