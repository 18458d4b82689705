import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { request } from 'undici';
import { createDispatcher } from '../src/client/create-dispatcher.js';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { closedPort, dispatcherFor, flakyServer } from '../../../test/support/helpers.js';

interface CodedError { code: string; attempts: number; cause: { code?: string; cause?: { code?: string } } }

test('connection refused is retried with capped, jittered backoff, for any method, then fails with HF_ERR_CONNECT', async (t) => {
  const port = await closedPort();
  const clock = new FakeClock({ autoAdvance: true });
  const dispatcher = dispatcherFor(t, { retry: { maxAttempts: 4, baseDelayMs: 100, maxDelayMs: 250 } }, clock);
  await assert.rejects(request(`http://127.0.0.1:${port}/`, { dispatcher, method: 'POST', body: 'x' }), (err: CodedError) => {
    assert.equal(err.code, 'HF_ERR_CONNECT');
    assert.equal(err.attempts, 4);
    assert.equal(err.cause.code, 'ECONNREFUSED');
    return true;
  });
  assert.equal(clock.waits.length, 3);
  const ceilings = [100, 200, 250];
  clock.waits.forEach((wait, i) => assert.ok(wait >= 0 && wait < ceilings[i]!, `wait ${i + 1} = ${wait}`));
});

test('regression: a retry whose jitter drew 0 ms still waits on the clock, like every retry (a 1-in-100 flake of the test above)', async (t) => {
  const port = await closedPort();
  const clock = new FakeClock({ autoAdvance: true });
  // A ceiling of 1 ms: full jitter draws 0 every time.
  const dispatcher = dispatcherFor(t, { retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 } }, clock);
  await assert.rejects(request(`http://127.0.0.1:${port}/`, { dispatcher }), (err: CodedError) => err.code === 'HF_ERR_CONNECT' && err.attempts === 3);
  assert.deepEqual(clock.waits, [0, 0]);
});

test('503 with Retry-After in seconds is waited for, then the request succeeds', async (t) => {
  const server = await flakyServer(t, { status: { code: 503, count: 2, retryAfter: '2' } });
  const clock = new FakeClock({ autoAdvance: true });
  const dispatcher = dispatcherFor(t, {}, clock);
  const res = await request(server.url, { dispatcher });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  assert.deepEqual(clock.waits, [2000, 2000]);
  assert.equal(server.stats().faulted, 2);
});

test('429 with Retry-After as an HTTP-date is honoured', async (t) => {
  const at = new Date(Date.now() + 3000).toUTCString();
  const server = await flakyServer(t, { status: { code: 429, count: 1, retryAfter: at } });
  const clock = new FakeClock({ autoAdvance: true });
  const dispatcher = dispatcherFor(t, {}, clock);
  const res = await request(server.url, { dispatcher });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  assert.equal(clock.waits.length, 1);
  assert.ok(clock.waits[0]! > 1000 && clock.waits[0]! <= 3000, `waited ${clock.waits[0]}`);
});

test('a Retry-After beyond the maximum is not waited for: the response goes to the caller', async (t) => {
  const server = await flakyServer(t, { status: { code: 503, count: 1, retryAfter: '3600' } });
  const clock = new FakeClock({ autoAdvance: true });
  const dispatcher = dispatcherFor(t, { retry: { maxRetryAfterMs: 60_000 } }, clock);
  const res = await request(server.url, { dispatcher });
  assert.equal(res.statusCode, 503);
  assert.equal(res.headers['retry-after'], '3600');
  await res.body.dump();
  assert.deepEqual(clock.waits, []);
});

test('a POST that gets 503 is not retried (the server may have acted on it)', async (t) => {
  const server = await flakyServer(t, { status: { code: 503, count: 1 } });
  const dispatcher = dispatcherFor(t, {}, new FakeClock({ autoAdvance: true }));
  const res = await request(server.url, { dispatcher, method: 'POST', body: 'x' });
  assert.equal(res.statusCode, 503);
  await res.body.dump();
  assert.equal(server.stats().received, 1);
});

test('statuses that run out of attempts reach the caller as the last response', async (t) => {
  const server = await flakyServer(t, { status: { code: 502, count: 10 } });
  const dispatcher = dispatcherFor(t, { retry: { maxAttempts: 3 } }, new FakeClock({ autoAdvance: true }));
  const res = await request(server.url, { dispatcher });
  assert.equal(res.statusCode, 502);
  await res.body.dump();
  assert.equal(server.stats().received, 3);
});

test('the retry budget refuses retries beyond its share, with HF_ERR_RETRY_BUDGET', async (t) => {
  const port = await closedPort();
  const dispatcher = dispatcherFor(t, { retry: { budget: { ratio: 0, minConcurrent: 0 } } }, new FakeClock({ autoAdvance: true }));
  await assert.rejects(request(`http://127.0.0.1:${port}/`, { dispatcher }), (err: CodedError) => {
    assert.equal(err.code, 'HF_ERR_RETRY_BUDGET');
    assert.equal(err.attempts, 1);
    assert.equal((err.cause as { code?: string }).code, 'HF_ERR_CONNECT');
    return true;
  });
});

test('under a storm, retries stay within the budget', async (t) => {
  const server = await flakyServer(t, { status: { code: 503, count: 1_000_000 } });
  const dispatcher = dispatcherFor(t, { retry: { maxAttempts: 5, budget: { ratio: 0.2, minConcurrent: 2 } } }, new FakeClock({ autoAdvance: true }));
  const responses = await Promise.all(Array.from({ length: 20 }, () => request(server.url, { dispatcher })));
  await Promise.all(responses.map((r) => r.body.dump()));
  // Without a budget: 20 × 5 = 100 requests. With it, retries never exceed max(2, 20% of 20) in flight.
  const received = server.stats().received;
  assert.ok(received < 100, `server received ${received}`);
  assert.ok(received >= 24, `at least the budget's retries were made (${received})`);
});

test('the deadline covers every attempt and wait: HF_ERR_DEADLINE', async (t) => {
  const server = await flakyServer(t, { slowMs: 5000 });
  const clock = new FakeClock();
  const dispatcher = dispatcherFor(t, { deadlineMs: 1000 }, clock);
  const pending = request(server.url, { dispatcher });
  clock.advance(1000);
  await assert.rejects(pending, { code: 'HF_ERR_DEADLINE' });
});

test('a retry that would end past the deadline is not started', async (t) => {
  const server = await flakyServer(t, { status: { code: 503, count: 1, retryAfter: '5' } });
  const clock = new FakeClock({ autoAdvance: true });
  const dispatcher = dispatcherFor(t, { deadlineMs: 2000 }, clock);
  const res = await request(server.url, { dispatcher });
  assert.equal(res.statusCode, 503);
  await res.body.dump();
  assert.deepEqual(clock.waits, []);
});

test('an AbortSignal cancels a backoff wait at once, with HF_ERR_ABORTED', async (t) => {
  const port = await closedPort();
  const clock = new FakeClock();
  const dispatcher = dispatcherFor(t, { retry: { baseDelayMs: 60_000, maxDelayMs: 60_000 } }, clock);
  const controller = new AbortController();
  const waiting = new Promise<void>((resolve) => {
    const listener = () => { diagnosticsChannel.unsubscribe('holdfast:client:retry', listener); resolve(); };
    diagnosticsChannel.subscribe('holdfast:client:retry', listener);
  });
  const pending = request(`http://127.0.0.1:${port}/`, { dispatcher, signal: controller.signal });
  await waiting;
  assert.equal(clock.waits.length, 1, 'a backoff wait is under way');
  controller.abort();
  await assert.rejects(pending, { code: 'HF_ERR_ABORTED' });
});

test('per-request holdfast options: retry off, and a declared-idempotent POST', async (t) => {
  const server = await flakyServer(t, { status: { code: 503, count: 1 } });
  const dispatcher = dispatcherFor(t, {}, new FakeClock({ autoAdvance: true }));
  const noRetry = await request(server.url, { dispatcher, holdfast: { retry: false } });
  assert.equal(noRetry.statusCode, 503);
  await noRetry.body.dump();
  server.resetStats();
  server.configure({ status: { code: 503, count: 1 } });
  const post = await request(server.url, { dispatcher, method: 'POST', body: 'x', holdfast: { idempotent: true } });
  assert.equal(post.statusCode, 200);
  await post.body.dump();
});

test('options are validated at construction, naming the option', () => {
  assert.throws(() => createDispatcher({ retry: { maxAttempts: 0 } }), { code: 'HF_ERR_INVALID_OPTION', option: 'retry.maxAttempts' });
  assert.throws(() => createDispatcher({ keepAlive: { marginRatio: 2 } }), { option: 'keepAlive.marginRatio' });
  assert.throws(() => createDispatcher({ conections: 2 } as never), { code: 'HF_ERR_INVALID_OPTION', option: 'conections' });
  const dispatcher = createDispatcher();
  assert.ok(Object.isFrozen(dispatcher.options.retry));
  assert.deepEqual(dispatcher.options.retry.statuses, [429, 502, 503, 504]);
  return dispatcher.close();
});
