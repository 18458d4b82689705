/**
 * Issue 20, item 3: Node's server and HAProxy answer a request that lands on a connection they
 * are timing out with `408` and `Connection: close`. RFC 9110 §15.5.9: the server did not
 * receive a complete request, and the client may repeat it. holdfast does, on a fresh
 * connection, for GETs and keyed POSTs; the 408 is also one observation of the idle close.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { dispatcherFor, flakyServer } from '../../../test/support/helpers.js';

/** Every request on a reused connection idle for at least 100 ms meets the server's 408. */
const faults = { idleCloseMs: 1000, raceWindowMs: 900, idle408: true };

test('a 408 on a reused idle connection never reaches the caller for a GET or a keyed POST', async (t) => {
  const clock = new FakeClock();
  const server = await flakyServer(t, { ...faults, clock });
  const dispatcher = dispatcherFor(t, { connections: 1 }, clock);
  const sends: Array<[string, Record<string, string>]> = [['GET', {}], ['POST', { 'idempotency-key': 'k1' }], ['GET', {}], ['POST', { 'idempotency-key': 'k2' }]];
  await (await request(server.url, { dispatcher })).body.dump();
  for (const [method, headers] of sends) {
    clock.advance(200);
    const res = await request(`${server.url}/x`, { dispatcher, method, headers, body: method === 'GET' ? undefined : '{}' });
    assert.equal(res.statusCode, 200, `${method} got the server's answer, not its 408`);
    await res.body.dump();
  }
  const stats = server.stats();
  assert.equal(stats.dropped, 4, 'each of the four met a 408 first');
  assert.deepEqual(stats.processedByMethod, { GET: 3, POST: 2 }, 'each applied once');
  assert.equal(stats.connections, 5, 'each sent again on a fresh connection');
});

test('an unkeyed POST that was written whole gets the 408: the server may have read it', async (t) => {
  const clock = new FakeClock();
  const server = await flakyServer(t, { ...faults, clock });
  const dispatcher = dispatcherFor(t, { connections: 1 }, clock);
  await (await request(server.url, { dispatcher })).body.dump();
  clock.advance(200);
  const res = await request(`${server.url}/x`, { dispatcher, method: 'POST', body: '{}' });
  assert.equal(res.statusCode, 408);
  await res.body.dump();
  assert.equal(server.stats().received, 2, 'sent once');
});

test('with replay off, the 408 is what a GET gets: the replay is what answers it', async (t) => {
  const clock = new FakeClock();
  const server = await flakyServer(t, { ...faults, clock });
  const dispatcher = dispatcherFor(t, { connections: 1, replay: false, retry: { maxAttempts: 1 } }, clock);
  await (await request(server.url, { dispatcher })).body.dump();
  clock.advance(200);
  const res = await request(`${server.url}/x`, { dispatcher });
  assert.equal(res.statusCode, 408);
  await res.body.dump();
});
