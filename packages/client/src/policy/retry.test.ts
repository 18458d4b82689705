import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fullJitterBackoff } from './backoff.js';
import { parseRetryAfter } from './retry-after.js';
import { RetryBudget } from './retry-budget.js';

test('full-jitter backoff is uniform below an exponential ceiling, capped', () => {
  const backoff = fullJitterBackoff({ baseMs: 100, maxMs: 1000 });
  assert.equal(backoff(1, () => 0.999_999), 99);
  assert.equal(backoff(3, () => 0.5), 200);
  assert.equal(backoff(10, () => 0.999_999), 999, 'the cap holds');
  assert.equal(backoff(4, () => 0), 0, 'full jitter reaches zero');
});

test('Retry-After: delay-seconds', () => {
  assert.equal(parseRetryAfter('0', 0), 0);
  assert.equal(parseRetryAfter(' 120 ', 0), 120_000);
});

test('Retry-After: HTTP-date, relative to now, never negative', () => {
  const now = Date.parse('Sat, 21 Nov 2026 05:00:00 GMT');
  assert.equal(parseRetryAfter('Sat, 21 Nov 2026 05:00:03 GMT', now), 3000);
  assert.equal(parseRetryAfter('Sat, 21 Nov 2026 04:00:00 GMT', now), 0);
});

test('Retry-After: malformed values are ignored', () => {
  for (const bad of ['', '-1', '1.5', 'soon', 'Sat, 21 Nov 2026']) {
    assert.equal(parseRetryAfter(bad, 0), undefined, bad);
  }
  assert.equal(parseRetryAfter(undefined, 0), undefined);
});

test('retry budget: a floor of concurrent retries, then a ratio of active requests', () => {
  const budget = new RetryBudget({ ratio: 0.2, minConcurrent: 2 });
  for (let i = 0; i < 20; i++) budget.requestStarted();
  assert.equal(budget.tryAcquireRetry(), true);
  assert.equal(budget.tryAcquireRetry(), true);
  assert.equal(budget.tryAcquireRetry(), true);
  assert.equal(budget.tryAcquireRetry(), true, '20% of 20 active is 4');
  assert.equal(budget.tryAcquireRetry(), false);
  budget.releaseRetry();
  assert.equal(budget.tryAcquireRetry(), true);
  for (let i = 0; i < 20; i++) budget.requestFinished();
  budget.releaseRetry();
  budget.releaseRetry();
  budget.releaseRetry();
  assert.equal(budget.retriesInFlight, 1);
  assert.equal(budget.tryAcquireRetry(), true, 'the floor of 2 still allows one more');
  assert.equal(budget.tryAcquireRetry(), false);
});
