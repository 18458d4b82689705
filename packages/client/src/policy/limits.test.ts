import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../../test/support/fake-clock.js';
import { Bulkhead } from './bulkhead.js';
import { TokenBucket } from './token-bucket.js';

test('token bucket: a burst of capacity, then the refill rate', () => {
  const bucket = new TokenBucket({ capacity: 3, refillPerSecond: 10 });
  assert.deepEqual([bucket.take(0), bucket.take(0), bucket.take(0)], [0, 0, 0]);
  assert.equal(bucket.take(0), 100, 'the next token is 100 ms away');
  assert.equal(bucket.take(50), 50);
  assert.equal(bucket.take(100), 0);
  assert.equal(bucket.available(10_000), 3, 'never above capacity');
});

test('bulkhead: grants up to the limit, queues FIFO, hands slots on', () => {
  const clock = new FakeClock();
  const bulkhead = new Bulkhead({ maxConcurrent: 2, maxQueue: 2, queueTimeoutMs: 1000 }, clock);
  const log: string[] = [];
  for (const name of ['a', 'b', 'c', 'd']) bulkhead.acquire(() => log.push(name), (r) => log.push(`${name}:${r}`));
  assert.deepEqual(log, ['a', 'b']);
  assert.equal(bulkhead.queued, 2);
  bulkhead.acquire(() => log.push('e'), (r) => log.push(`e:${r}`));
  assert.deepEqual(log, ['a', 'b', 'e:queue-full']);
  bulkhead.release();
  assert.deepEqual(log.slice(3), ['c'], 'first in, first out');
  assert.equal(bulkhead.active, 2);
});

test('bulkhead: tryAcquire takes a free slot, and never one a waiter is owed', () => {
  const clock = new FakeClock();
  const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: 0 }, clock);
  assert.equal(bulkhead.tryAcquire(), true);
  assert.equal(bulkhead.tryAcquire(), false, 'the only slot is taken');
  const log: string[] = [];
  bulkhead.acquire(() => log.push('queued'), (r) => log.push(r));
  bulkhead.release();
  assert.deepEqual(log, ['queued'], 'the freed slot went to the waiter');
  assert.equal(bulkhead.tryAcquire(), false);
  bulkhead.release();
  assert.equal(bulkhead.tryAcquire(), true);
  assert.equal(bulkhead.active, 1);
});

test('bulkhead: a queued wait times out with its own reason; cancel removes silently', () => {
  const clock = new FakeClock();
  const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 5, queueTimeoutMs: 500 }, clock);
  const log: string[] = [];
  bulkhead.acquire(() => log.push('a'), () => {});
  bulkhead.acquire(() => log.push('b'), (r) => log.push(`b:${r}`));
  const cancelC = bulkhead.acquire(() => log.push('c'), (r) => log.push(`c:${r}`));
  cancelC();
  clock.advance(499);
  assert.deepEqual(log, ['a']);
  clock.advance(1);
  assert.deepEqual(log, ['a', 'b:queue-timeout']);
  assert.equal(bulkhead.queued, 0);
});

test('bulkhead: rejectQueued fails every waiter, none is lost silently', () => {
  const clock = new FakeClock();
  const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 5, queueTimeoutMs: 0 }, clock);
  const log: string[] = [];
  for (const name of ['a', 'b', 'c']) bulkhead.acquire(() => log.push(name), (r) => log.push(`${name}:${r}`));
  assert.equal(bulkhead.rejectQueued(), 2);
  assert.deepEqual(log, ['a', 'b:closed', 'c:closed']);
});

test('bulkhead: whenIdle resolves once the last holder releases', async () => {
  const bulkhead = new Bulkhead({ maxConcurrent: 1, maxQueue: 1, queueTimeoutMs: 0 }, new FakeClock());
  bulkhead.acquire(() => {}, () => {});
  bulkhead.acquire(() => {}, () => {});
  let idle = false;
  const done = bulkhead.whenIdle().then(() => { idle = true; });
  bulkhead.release();
  await Promise.resolve();
  assert.equal(idle, false, 'the queued one now holds the slot');
  bulkhead.release();
  await done;
  assert.equal(idle, true);
});
