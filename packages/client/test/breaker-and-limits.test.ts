import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type Dispatcher } from 'undici';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { dispatcherFor, flakyServer } from '../../../test/support/helpers.js';

/** The response's status, or the error's code. */
async function status(url: string, dispatcher: Dispatcher): Promise<number | string> {
  try {
    const res = await request(url, { dispatcher });
    await res.body.dump();
    return res.statusCode;
  } catch (err) {
    return (err as { code: string }).code;
  }
}

test('a 503 burst opens the breaker; a failed probe re-opens it for longer; good probes close it', async (t) => {
  const server = await flakyServer(t, { status: { code: 503, count: 4 } }); // the first 4 requests get 503
  const clock = new FakeClock();
  const dispatcher = dispatcherFor(t, {
    retry: { maxAttempts: 1 },
    breaker: { consecutiveFailures: 3, openMs: 1000, halfOpenProbes: 2, halfOpenSuccessRatio: 1 },
  }, clock);
  const transitions: string[] = [];
  t.after(dispatcher.onCircuitChange((e) => transitions.push(`${e.from}->${e.to}`)));

  assert.deepEqual([await status(server.url, dispatcher), await status(server.url, dispatcher), await status(server.url, dispatcher)], [503, 503, 503]);
  assert.equal(dispatcher.circuit(server.url), 'open');
  assert.equal(await status(server.url, dispatcher), 'HF_ERR_CIRCUIT_OPEN');
  assert.equal(server.stats().received, 3, 'rejected without reaching the server');

  clock.advance(1000);
  assert.equal(dispatcher.circuit(server.url), 'half-open');
  assert.equal(await status(server.url, dispatcher), 503, 'the 4th 503: a failed probe');
  assert.equal(dispatcher.circuit(server.url), 'open');
  clock.advance(1999);
  assert.equal(dispatcher.circuit(server.url), 'open', 'open for twice as long after a repeated trip');
  clock.advance(1);
  assert.deepEqual([await status(server.url, dispatcher), await status(server.url, dispatcher)], [200, 200]);
  assert.equal(dispatcher.circuit(server.url), 'closed');
  assert.deepEqual(transitions, ['closed->open', 'open->half-open', 'half-open->open', 'open->half-open', 'half-open->closed']);
});

test('breaker rejections are not retried and not counted as failures', async (t) => {
  const server = await flakyServer(t, {});
  const clock = new FakeClock({ autoAdvance: true });
  const dispatcher = dispatcherFor(t, { breaker: true }, clock);
  assert.equal(await status(server.url, dispatcher), 200);
  dispatcher.isolate(server.url);
  assert.equal(await status(server.url, dispatcher), 'HF_ERR_CIRCUIT_OPEN');
  assert.deepEqual(clock.waits, [], 'no retry wait');
  dispatcher.resetCircuit(server.url);
  assert.equal(await status(server.url, dispatcher), 200);
  assert.equal(server.stats().received, 2);
});

test('the breaker API says clearly when breakers are off', (t) => {
  const dispatcher = dispatcherFor(t);
  assert.throws(() => dispatcher.isolate('http://127.0.0.1:1'), { code: 'HF_ERR_INVALID_OPTION', option: 'breaker' });
});

test('concurrency limit: a full queue fails at once, a queued wait times out, both with their codes', async (t) => {
  const server = await flakyServer(t, { slowMs: 60_000 });
  const clock = new FakeClock();
  const dispatcher = dispatcherFor(t, { limit: { maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: 500 } }, clock);
  const inFlight = new AbortController();
  const first = request(server.url, { dispatcher, signal: inFlight.signal }).catch((err: { code: string }) => err.code);
  const queued = status(server.url, dispatcher);
  assert.equal(await status(server.url, dispatcher), 'HF_ERR_QUEUE_FULL');
  clock.advance(500);
  assert.equal(await queued, 'HF_ERR_QUEUE_TIMEOUT');
  inFlight.abort();
  assert.equal(await first, 'HF_ERR_ABORTED');
});

test('a queued request is released as soon as the slot frees, in FIFO order', async (t) => {
  const server = await flakyServer(t, {});
  const dispatcher = dispatcherFor(t, { limit: { maxConcurrent: 1, maxQueue: 10 } });
  const order: number[] = [];
  await Promise.all([1, 2, 3, 4].map(async (n) => {
    const res = await request(`${server.url}/${n}`, { dispatcher });
    order.push(n);
    await res.body.dump();
  }));
  assert.deepEqual(order, [1, 2, 3, 4]);
});

test('rate limit: beyond the burst a request fails fast, or waits for its token when allowed', async (t) => {
  const server = await flakyServer(t, {});
  const fast = dispatcherFor(t, { rateLimit: { requestsPerSecond: 2, burst: 2, maxWaitMs: 0 } }, new FakeClock());
  assert.deepEqual([await status(server.url, fast), await status(server.url, fast), await status(server.url, fast)], [200, 200, 'HF_ERR_RATE_LIMITED']);

  const clock = new FakeClock({ autoAdvance: true });
  const patient = dispatcherFor(t, { rateLimit: { requestsPerSecond: 2, burst: 1, maxWaitMs: 1000 } }, clock);
  assert.deepEqual([await status(server.url, patient), await status(server.url, patient)], [200, 200]);
  assert.deepEqual(clock.waits, [500], 'the second waited half a second for its token');
});

test('destroy() fails queued requests with HF_ERR_CLOSED: none is lost silently', async (t) => {
  const server = await flakyServer(t, { slowMs: 60_000 });
  const { HoldfastDispatcher } = await import('../src/client/create-dispatcher.js');
  const dispatcher = new HoldfastDispatcher({ limit: { maxConcurrent: 1, maxQueue: 5, queueTimeoutMs: 0 } });
  const results = [1, 2, 3].map(() => status(server.url, dispatcher));
  await new Promise<void>((resolve) => dispatcher.once('connect', () => resolve()));
  await dispatcher.destroy();
  assert.deepEqual(await Promise.all(results), ['HF_ERR_CLOSED', 'HF_ERR_CLOSED', 'HF_ERR_CLOSED']);
  assert.equal(dispatcher.openSockets, 0);
  void t;
});
