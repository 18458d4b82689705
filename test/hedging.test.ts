import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request, type Dispatcher } from 'undici';
import { dispatcherFor, flakyServer } from './helpers.js';

async function latencies(url: string, dispatcher: Dispatcher, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const started = performance.now();
    const res = await request(url, { dispatcher });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
    out.push(performance.now() - started);
  }
  return out.sort((a, b) => a - b);
}

const p99 = (sorted: number[]) => sorted[Math.min(sorted.length - 1, Math.floor(0.99 * sorted.length))]!;

test('hedging cuts p99 against a slow-tail upstream', async (t) => {
  const tail = { slowTail: { every: 6, ms: 300 } };
  const [plainServer, hedgedServer] = [await flakyServer(t, tail), await flakyServer(t, tail)];
  const plain = dispatcherFor(t, {});
  const hedged = dispatcherFor(t, { hedge: { quantile: 0.5, minSamples: 5, minDelayMs: 20 } });
  const [a, b] = await Promise.all([latencies(plainServer.url, plain, 30), latencies(hedgedServer.url, hedged, 30)]);
  assert.ok(p99(a) >= 300, `without hedging the tail shows: p99 ${Math.round(p99(a))} ms`);
  assert.ok(p99(b) < p99(a) / 2, `hedged p99 ${Math.round(p99(b))} ms against ${Math.round(p99(a))} ms`);
  assert.ok(hedgedServer.stats().received > 30, 'some requests were hedged');
});

test('a POST without a key is never hedged', async (t) => {
  const server = await flakyServer(t, { slowTail: { every: 1, ms: 100 } });
  const dispatcher = dispatcherFor(t, { hedge: { quantile: 0.5, minSamples: 1, minDelayMs: 5 } });
  await (await request(server.url, { dispatcher })).body.dump(); // one sample for the estimate
  const res = await request(server.url, { dispatcher, method: 'POST', body: 'x', headers: { 'x-request-id': 'once' } });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  assert.equal(server.stats().receivedById.once, 1);
});

// Regression: losing attempts were aborted with a plain Error, which the breaker counted
// as a server failure, so hedging against a healthy slow-tail upstream opened the breaker.
test('a hedge that loses the race is not a breaker failure', async (t) => {
  const server = await flakyServer(t, { slowTail: { every: 2, ms: 100 } });
  const dispatcher = dispatcherFor(t, { breaker: { consecutiveFailures: 1000, failureRatio: 0.2, minimumVolume: 10 }, hedge: { quantile: 0.5, minSamples: 3, minDelayMs: 5 } });
  await latencies(server.url, dispatcher, 20);
  assert.ok(server.stats().received > 20, 'hedges went out');
  assert.equal(dispatcher.circuit(server.url), 'closed');
});
