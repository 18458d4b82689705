import { test } from 'node:test';
import assert from 'node:assert/strict';
import axios, { type AxiosInstance } from 'axios';
import { withAxios } from '../src/client/with-axios.js';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { closedPort, flakyServer } from '../../../test/support/helpers.js';

function client(t: { after(fn: () => void): void }, clock = new FakeClock({ autoAdvance: true }), options: Parameters<typeof withAxios>[1] = {}) {
  const instance = withAxios(axios.create({ validateStatus: () => true }), { agent: { maxSockets: 1 }, ...options }, clock);
  t.after(() => { instance.agents.http.destroy(); instance.agents.https.destroy(); });
  return { instance, clock };
}

/** Every request on a reused connection is dropped unanswered; fresh connections are served. */
const stale = { idleCloseMs: 60_000, raceWindowMs: 60_000 };

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (err) {
    return (err as { code?: string }).code ?? 'unknown';
  }
}

test('withAxios replays a GET that failed on a reused socket, at once', async (t) => {
  const server = await flakyServer(t, stale);
  const { instance, clock } = client(t);
  assert.equal((await instance.get(server.url)).status, 200);
  assert.equal((await instance.get(server.url)).status, 200);
  assert.equal(server.stats().dropped, 1);
  assert.deepEqual(clock.waits, [], 'no backoff for a replay');
});

test('withAxios never sends a POST without a key twice; with a key it is applied once', async (t) => {
  const server = await flakyServer(t, stale);
  const { instance } = client(t);
  await instance.get(server.url);
  assert.match(await codeOf(instance.post(server.url, 'x', { headers: { 'x-request-id': 'p1' } })), /ECONNRESET|ERR_/);
  assert.equal(server.stats().receivedById.p1, 1, 'sent once');
  await instance.get(server.url);
  const keyed = await instance.post(server.url, 'y', { headers: { 'x-request-id': 'p2', 'idempotency-key': 'k2' } });
  assert.equal(keyed.status, 200);
  assert.equal(server.stats().processedById.p2, 1);
});

test('withAxios retries refused connections with backoff, for any method', async (t) => {
  const port = await closedPort();
  const { instance, clock } = client(t, new FakeClock({ autoAdvance: true }), { retry: { maxAttempts: 3, baseDelayMs: 100 } });
  assert.equal(await codeOf(instance.post(`http://127.0.0.1:${port}/`, 'x')), 'ECONNREFUSED');
  assert.equal(clock.waits.length, 2);
  assert.ok(clock.waits[0]! < 100 && clock.waits[1]! < 200);
});

test('withAxios obeys Retry-After on 503', async (t) => {
  const server = await flakyServer(t, { status: { code: 503, count: 1, retryAfter: '2' } });
  const { instance, clock } = client(t);
  assert.equal((await instance.get(server.url)).status, 200);
  assert.deepEqual(clock.waits, [2000]);
});

test('withAxios: an AbortSignal cancels a retry wait at once', async (t) => {
  const port = await closedPort();
  const clock = new FakeClock();
  const { instance } = client(t, clock, { retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 } });
  const controller = new AbortController();
  const waiting = clock.nextWait();
  const pending = codeOf(instance.get(`http://127.0.0.1:${port}/`, { signal: controller.signal }));
  await waiting;
  controller.abort();
  assert.equal(await pending, 'ERR_CANCELED');
});

void ({} as AxiosInstance);

test('withAxios validates its options with the dispatcher\'s retry schema: a bad or unknown option is named (issue 18)', () => {
  assert.throws(() => withAxios(axios.create(), { retry: { maxAttemps: 3 } } as never), (err: Error & { code?: string }) => err.code === 'HF_ERR_INVALID_OPTION' && /retry/.test(err.message) && /maxAttemps/.test(err.message));
  assert.throws(() => withAxios(axios.create(), { retry: { maxAttempts: 0 } }), /retry\.maxAttempts/);
});
