import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Clock } from '../clock.js';
import { DeadlineQueue, type DeadlineEntry } from './deadline-queue.js';

function manualClock(): Clock & { advance(ms: number): void; timers: number } {
  let now = 0;
  let timers: { at: number; fn: () => void }[] = [];
  return {
    now: () => now,
    wallNow: () => now,
    schedule(fn, ms) {
      timers.push({ at: now + ms, fn });
      return () => {};
    },
    timer() {
      throw new Error('the deadline queue schedules; it has no refreshable timer');
    },
    get timers() { return timers.length; },
    advance(ms) {
      now += ms;
      const due = timers.filter((t) => t.at <= now);
      timers = timers.filter((t) => t.at > now);
      for (const t of due) t.fn();
    },
  };
}

function entry(deadlineAt: number, fired: number[]): DeadlineEntry {
  return { deadlineAt, expire: () => fired.push(deadlineAt), prevDeadline: undefined, nextDeadline: undefined, queued: false };
}

test('expires entries in order with a single timer, skipping removed ones', () => {
  const clock = manualClock();
  const queue = new DeadlineQueue(clock);
  const fired: number[] = [];
  const [a, b, c] = [entry(100, fired), entry(150, fired), entry(200, fired)];
  queue.add(a);
  queue.add(b);
  queue.add(c);
  assert.equal(clock.timers, 1, 'one timer for three deadlines');
  queue.remove(a);
  clock.advance(100);
  assert.deepEqual(fired, [], 'a removed entry never expires');
  clock.advance(50);
  assert.deepEqual(fired, [150]);
  queue.remove(c);
  clock.advance(100);
  assert.deepEqual(fired, [150]);
  assert.equal(clock.timers, 0, 'an empty queue keeps no timer');
});

test('re-arms after draining and accepts new entries', () => {
  const clock = manualClock();
  const queue = new DeadlineQueue(clock);
  const fired: number[] = [];
  queue.add(entry(10, fired));
  clock.advance(10);
  queue.add(entry(30, fired));
  queue.remove(entry(99, fired)); // not queued: no effect
  clock.advance(20);
  assert.deepEqual(fired, [10, 30]);
});

test('entries added out of order expire in deadline order, and an earlier one re-arms the timer', () => {
  const clock = manualClock();
  const queue = new DeadlineQueue(clock);
  const fired: number[] = [];
  queue.add(entry(300, fired));
  queue.add(entry(100, fired));
  queue.add(entry(200, fired));
  clock.advance(100);
  assert.deepEqual(fired, [100], 'not held back behind the 300');
  clock.advance(100);
  assert.deepEqual(fired, [100, 200]);
  clock.advance(100);
  assert.deepEqual(fired, [100, 200, 300]);
});
