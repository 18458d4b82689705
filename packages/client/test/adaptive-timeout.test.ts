import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { dispatcherFor, flakyServer } from '../../../test/support/helpers.js';

test('adaptive timeout: after a warm-up on fast responses, a stalled one fails in a few × the recent latency', async (t) => {
  const server = await flakyServer(t, {});
  const dispatcher = dispatcherFor(t, { adaptiveTimeout: { minMs: 50, multiplier: 3, minSamples: 5, maxMs: 10_000 }, retry: { maxAttempts: 1 } });
  for (let i = 0; i < 5; i++) await (await request(server.url, { dispatcher })).body.dump();
  server.configure({ slowMs: 5000 });
  const started = performance.now();
  await assert.rejects(request(server.url, { dispatcher }), { code: 'HF_ERR_RESPONSE_TIMEOUT' });
  const took = performance.now() - started;
  // Regression: undici's own headers timeout ticks about once a second, so it fired at ~1000 ms.
  assert.ok(took < 500, `failed after ${Math.round(took)} ms, not the server's 5000`);
});

test('adaptive timeout: before there is an estimate, the maximum applies', async (t) => {
  const server = await flakyServer(t, { slowMs: 200 });
  const dispatcher = dispatcherFor(t, { adaptiveTimeout: { minMs: 10, minSamples: 5, maxMs: 2000 }, retry: { maxAttempts: 1 } });
  const res = await request(server.url, { dispatcher });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
});

test('adaptive timeout: a timed-out GET is retried, and the retry can succeed', async (t) => {
  const server = await flakyServer(t, {});
  const dispatcher = dispatcherFor(t, { adaptiveTimeout: { minMs: 50, minSamples: 5 }, retry: { maxAttempts: 2, baseDelayMs: 1 } });
  for (let i = 0; i < 5; i++) await (await request(server.url, { dispatcher })).body.dump();
  server.configure({ slowMs: 5000 });
  const pending = request(server.url, { dispatcher });
  // The first attempt times out; by then the upstream is fast again, so the retry succeeds.
  setTimeout(() => server.configure({ slowMs: 0 }), 20).unref();
  const res = await pending;
  assert.equal(res.statusCode, 200);
  await res.body.dump();
});
