/**
 * Issue 20, item 2: a NAT or a cloud load balancer that forgets an idle flow sends no FIN and
 * no reset. A GET written to such a socket used to wait for its whole 60 s deadline and fail
 * with HF_ERR_DEADLINE. With the defaults, a request safe to repeat on a socket idle for 500 ms
 * or more must see a first response byte within 1 s (or 4 × the slowest recent one), or it
 * is sent again at once on a fresh connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { request } from 'undici';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { dispatcherFor, flakyServer } from '../../../test/support/helpers.js';

/** Resolves when undici has written the next request's headers to a socket. */
function nextWrite(): Promise<void> {
  return new Promise((resolve) => {
    const listener = () => {
      diagnosticsChannel.unsubscribe('undici:client:sendHeaders', listener);
      resolve();
    };
    diagnosticsChannel.subscribe('undici:client:sendHeaders', listener);
  });
}

/** Resolves when a timer of exactly `ms` is set on the fake clock (the server's slow answer). */
async function timerSet(clock: FakeClock, ms: number): Promise<void> {
  while ((await clock.nextTimer()) !== ms);
}

function recordChannel(t: { after(fn: () => void): void }, name: string): Array<Record<string, unknown>> {
  const seen: Array<Record<string, unknown>> = [];
  const listener = (message: unknown) => seen.push(message as Record<string, unknown>);
  diagnosticsChannel.subscribe(name, listener);
  t.after(() => diagnosticsChannel.unsubscribe(name, listener));
  return seen;
}

test('a GET on a silently dropped socket is sent again on a fresh connection after 1 s, with the defaults', async (t) => {
  const clock = new FakeClock();
  const server = await flakyServer(t, { idleCloseMs: 1500, silentDrop: true, clock });
  const dispatcher = dispatcherFor(t, { connections: 1 }, clock);
  const retired = recordChannel(t, 'holdfast:client:socket-retired');
  await (await request(server.url, { dispatcher })).body.dump();
  clock.advance(2000); // the middlebox forgot the flow at 1.5 s; holdfast's limit is 4 s
  const written = nextWrite();
  const pending = request(`${server.url}/x`, { dispatcher });
  await written;
  clock.advance(999);
  assert.equal(server.stats().connections, 1, 'still waiting on the dropped flow at 999 ms');
  clock.advance(1);
  const res = await pending;
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  assert.equal(server.stats().dropped, 1, 'the first write went nowhere');
  assert.equal(server.stats().connections, 2);
  assert.deepEqual(retired.map((m) => m.reason), ['silent-drop']);
  assert.equal(dispatcher.keepAlive(server.url)?.learnedMs, undefined, 'our own close teaches nothing');
});

test('the timer follows the slowest recent first byte: a slow origin gets 4 × its latency', async (t) => {
  const clock = new FakeClock();
  const server = await flakyServer(t, { slowMs: 600, clock });
  const dispatcher = dispatcherFor(t, { connections: 1 }, clock);
  const slowAnswer = timerSet(clock, 600);
  const first = request(server.url, { dispatcher });
  await slowAnswer;
  clock.advance(600);
  await (await first).body.dump();
  clock.advance(1500);
  const slowAgain = timerSet(clock, 600);
  const second = request(`${server.url}/x`, { dispatcher });
  await slowAgain;
  clock.advance(600); // slow, not dropped: answered on the same socket, well inside 2400 ms
  const res = await second;
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  assert.equal(server.stats().connections, 1, 'no false alarm');
});

test('a POST without a key never gets the timer, and never goes on a socket idle 500 ms or more: it could not be sent again', async (t) => {
  const clock = new FakeClock();
  const server = await flakyServer(t, { idleCloseMs: 1500, silentDrop: true, clock });
  const dispatcher = dispatcherFor(t, { connections: 1 }, clock);
  await (await request(server.url, { dispatcher, method: 'POST', body: 'a' })).body.dump();
  const retired = recordChannel(t, 'holdfast:client:socket-retired');
  clock.advance(2000); // the flow is gone; a POST written to it would wait for its deadline
  const res = await request(`${server.url}/x`, { dispatcher, method: 'POST', body: 'b' });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  assert.deepEqual(retired.map((m) => m.reason), ['unsafe-request'], 'it went on a new connection');
  assert.equal(server.stats().dropped, 0);
  assert.equal(server.stats().processedByMethod.POST, 2);
});

test('on a slow origin, a POST on a fresh connection waits for its answer: no first-byte timer', async (t) => {
  const clock = new FakeClock();
  const server = await flakyServer(t, { slowMs: 5000, clock });
  const dispatcher = dispatcherFor(t, { connections: 1 }, clock);
  const slowAnswer = timerSet(clock, 5000);
  const pending = request(`${server.url}/x`, { dispatcher, method: 'POST', body: 'b' });
  await slowAnswer;
  clock.advance(5000);
  const res = await pending;
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  assert.equal(server.stats().processedByMethod.POST, 1);
});

test('with silentDrop: false, the GET waits on the dead flow for its whole deadline (the behaviour before)', async (t) => {
  const clock = new FakeClock();
  const server = await flakyServer(t, { idleCloseMs: 1500, silentDrop: true, clock });
  const dispatcher = dispatcherFor(t, { connections: 1, silentDrop: false, deadlineMs: 5000 }, clock);
  await (await request(server.url, { dispatcher })).body.dump();
  clock.advance(2000);
  const written = nextWrite();
  const pending = request(`${server.url}/x`, { dispatcher });
  await written;
  clock.advance(5000);
  await assert.rejects(pending, { code: 'HF_ERR_DEADLINE' });
  assert.equal(server.stats().connections, 1, 'never sent again');
});
