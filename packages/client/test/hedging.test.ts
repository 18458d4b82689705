import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import { test, type TestContext } from 'node:test';
import { Worker } from 'node:worker_threads';
import assert from 'node:assert/strict';
import { request, type Dispatcher } from 'undici';
import { dispatcherFor, flakyServer } from '../../../test/support/helpers.js';

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

// Found on Node 26 with undici 8, whose latency tail crosses the 10 ms hedge floor more often:
// a hedge sent while every connection was busy waited in the pool's queue behind the request
// it raced, and when it lost, undici aborted it as it reached a socket and destroyed that
// socket (bench/runners/overhead.ts --all-policies: 75% of raw undici's throughput, 11,042 extra attempts).
test('no hedge goes out while the pool has no room for it: it would queue behind the request it races', async (t) => {
  const server = await flakyServer(t, { slowMs: 60 });
  const dispatcher = dispatcherFor(t, { connections: 1, metrics: true, hedge: { quantile: 0.5, minSamples: 2, minDelayMs: 5 } });
  for (let i = 0; i < 2; i++) await (await request(server.url, { dispatcher })).body.dump(); // the estimate: about 60 ms
  const responses = await Promise.all([1, 2, 3].map(() => request(server.url, { dispatcher })));
  for (const res of responses) await res.body.dump();
  const metrics = await dispatcher.metricsRegistry!.getMetricsAsJSON();
  const attempts = metrics.find((m) => m.name === 'holdfast_client_attempts_total')!.values.reduce((sum, v) => sum + v.value, 0);
  assert.equal(attempts, 5, 'one attempt per request: the hedge delays passed while the only connection was busy');
  assert.equal(server.stats().connections, 1, 'no connection was lost to an abandoned hedge');
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

/**
 * An upstream on a worker thread, so that it answers while this thread's event loop is
 * blocked. It counts the answers it has handed to the kernel in shared memory, so that a
 * blocked main thread can wait for them (Atomics.wait) instead of guessing a duration.
 */
async function upstreamOnWorker(t: TestContext): Promise<{ url: string; answered: Int32Array }> {
  const answered = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(`
    const { createServer } = require('node:http');
    const { parentPort, workerData: answered } = require('node:worker_threads');
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('hello world', () => { Atomics.add(answered, 0, 1); Atomics.notify(answered, 0); }));
    });
    server.keepAliveTimeout = 60000;
    server.listen(0, '127.0.0.1', () => parentPort.postMessage(server.address().port));
    parentPort.on('message', () => server.close(() => process.exit(0)));
  `, { eval: true, workerData: answered });
  t.after(async () => {
    worker.postMessage('stop');
    await once(worker, 'exit');
  });
  const [port] = (await once(worker, 'message')) as [number];
  return { url: `http://127.0.0.1:${port}/`, answered };
}

/** Blocks this thread, as a long GC pause does, until the upstream has answered `count` requests in all. */
function blockUntilAnswered(answered: Int32Array, count: number): void {
  const until = performance.now() + 10_000;
  for (let seen = Atomics.load(answered, 0); seen < count; seen = Atomics.load(answered, 0)) {
    assert.ok(performance.now() < until, `the upstream answered ${seen} of ${count} requests within 10 s`);
    Atomics.wait(answered, 0, seen, 100);
  }
}

/** Resolves once undici has written the headers of `n` more requests. */
function requestsWritten(n: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const onSend = () => {
      if (++seen < n) return;
      diagnostics.unsubscribe('undici:client:sendHeaders', onSend);
      resolve();
    };
    diagnostics.subscribe('undici:client:sendHeaders', onSend);
  });
}

/** Blocks the event loop for `ms` more (so that the hedge delay has surely passed). */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

// Regression: when the event loop was blocked for longer than the hedge delay, the hedge
// timer ran (timers come first in a loop turn) before the answer already waiting in the
// socket was read, so every request in flight was hedged and its loser killed a pooled
// socket. Under load this fired hedges by the thousand and cost a quarter of the throughput.
test('a hedge delay that passes while the event loop is blocked does not hedge an answer already received', async (t) => {
  const { url, answered } = await upstreamOnWorker(t);
  // A 50 ms hedge delay: long enough that on a loaded machine no hedge fires in the moments
  // between the requests' dispatch and the blocking below (that would be a legitimate hedge),
  // and the stall still outlasts it.
  const dispatcher = dispatcherFor(t, { connections: 4, metrics: true, hedge: { quantile: 0.5, minSamples: 5, minDelayMs: 50 } });
  const metrics = async () => {
    const all = await dispatcher.metricsRegistry!.getMetricsAsJSON();
    const sum = (name: string) => all.find((m) => m.name === name)!.values.reduce((total, v) => total + v.value, 0);
    return { requests: sum('holdfast_client_requests_total'), attempts: sum('holdfast_client_attempts_total') };
  };
  // Three sockets open, and the estimate exists: hedges go out after 50 ms.
  for (let round = 0; round < 4; round++) await Promise.all([0, 1, 2].map(() => latencies(url, dispatcher, 1)));
  const before = await metrics();
  for (let round = 0; round < 3; round++) {
    const written = requestsWritten(3);
    const pending = Promise.all([0, 1, 2].map(async () => (await request(url, { dispatcher })).body.text()));
    const target = Atomics.load(answered, 0) + 3;
    await written;
    blockUntilAnswered(answered, target); // the answers are in this process's socket buffers, unread
    stall(80);
    assert.deepEqual(await pending, ['hello world', 'hello world', 'hello world']);
  }
  const after = await metrics();
  assert.equal(after.requests - before.requests, 9);
  assert.equal(after.attempts - before.attempts, 9, 'no attempt beyond one per request');
});
