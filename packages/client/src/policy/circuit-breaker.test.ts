import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CircuitBreaker, type BreakerState } from './circuit-breaker.js';

function breaker(options: ConstructorParameters<typeof CircuitBreaker>[0] = {}) {
  const transitions: string[] = [];
  const b = new CircuitBreaker(options, (from: BreakerState, to: BreakerState) => transitions.push(`${from.name}->${to.name}`));
  return { b, transitions };
}

const fail = { failed: true, probe: false };
const ok = { failed: false, probe: false };

test('closed -> open after N consecutive failures; a success resets the count', () => {
  const { b, transitions } = breaker({ consecutiveFailures: 3, minimumVolume: 1000 });
  b.record(0, fail);
  b.record(0, fail);
  b.record(0, ok);
  b.record(0, fail);
  b.record(0, fail);
  assert.equal(b.state(0).name, 'closed');
  b.record(0, fail);
  assert.equal(b.state(0).name, 'open');
  assert.deepEqual(transitions, ['closed->open']);
});

test('closed -> open on the failure ratio over the window, only above the minimum volume', () => {
  const { b } = breaker({ consecutiveFailures: 1000, failureRatio: 0.5, minimumVolume: 10, ratioWindowMs: 10_000 });
  for (let i = 0; i < 4; i++) { b.record(i, ok); b.record(i, fail); }
  assert.equal(b.state(10).name, 'closed', '8 outcomes: under the minimum volume');
  b.record(10, ok);
  b.record(11, fail);
  assert.equal(b.state(11).name, 'open', '5 of 10 failed');
});

test('outcomes older than the window no longer count', () => {
  const { b } = breaker({ consecutiveFailures: 1000, failureRatio: 0.5, minimumVolume: 4, ratioWindowMs: 1000 });
  b.record(0, fail);
  b.record(0, fail);
  b.record(0, fail);
  b.record(2000, ok);
  b.record(2000, ok);
  b.record(2000, ok);
  b.record(2001, fail);
  assert.equal(b.state(2001).name, 'closed', '1 failure in 4 within the window');
});

test('open rejects fast with the time left, then becomes half-open', () => {
  const { b, transitions } = breaker({ consecutiveFailures: 1, openMs: 1000 });
  b.record(0, fail);
  assert.deepEqual(b.admit(400), { allowed: false, retryInMs: 600 });
  assert.equal(b.state(999).name, 'open');
  assert.equal(b.state(1000).name, 'half-open');
  assert.deepEqual(transitions, ['closed->open', 'open->half-open']);
});

test('half-open admits N probes and closes on their success ratio', () => {
  const { b, transitions } = breaker({ consecutiveFailures: 1, openMs: 1000, halfOpenProbes: 3, halfOpenSuccessRatio: 2 / 3 });
  b.record(0, fail);
  const probes = [b.admit(1000), b.admit(1000), b.admit(1000)];
  assert.ok(probes.every((p) => p.allowed && p.probe));
  assert.deepEqual(b.admit(1000), { allowed: false, retryInMs: 0 }, 'no more than N probes at once');
  b.record(1001, { failed: true, probe: true });
  b.record(1002, { failed: false, probe: true });
  assert.equal(b.state(1002).name, 'half-open');
  b.record(1003, { failed: false, probe: true });
  assert.equal(b.state(1003).name, 'closed');
  assert.deepEqual(b.admit(1003), { allowed: true, probe: false });
  assert.deepEqual(transitions, ['closed->open', 'open->half-open', 'half-open->closed']);
});

test('failed probes re-open it, for longer each time (capped)', () => {
  const { b } = breaker({ consecutiveFailures: 1, openMs: 1000, maxOpenMs: 3000, halfOpenProbes: 1, halfOpenSuccessRatio: 1 });
  b.record(0, fail);
  let now = 1000;
  for (const expected of [2000, 3000, 3000]) {
    assert.equal(b.admit(now).allowed, true);
    b.record(now, { failed: true, probe: true });
    const state = b.state(now);
    assert.equal(state.name, 'open');
    assert.equal(state.name === 'open' && state.until - now, expected);
    now += expected;
  }
});

test('a neutral outcome frees a probe slot without judging', () => {
  const { b } = breaker({ consecutiveFailures: 1, openMs: 10, halfOpenProbes: 1 });
  b.record(0, fail);
  assert.equal(b.admit(10).allowed, true);
  assert.equal(b.admit(10).allowed, false);
  b.record(11, { failed: false, probe: true, neutral: true });
  assert.equal(b.state(11).name, 'half-open');
  assert.equal(b.admit(11).allowed, true);
});

test('isolate rejects everything until reset', () => {
  const { b, transitions } = breaker();
  b.isolate();
  assert.deepEqual(b.admit(0), { allowed: false, retryInMs: Number.POSITIVE_INFINITY });
  b.record(0, fail); // outcomes of requests admitted before are ignored
  assert.equal(b.state(1e9).name, 'isolated');
  b.reset(5);
  assert.deepEqual(b.admit(5), { allowed: true, probe: false });
  assert.deepEqual(transitions, ['closed->isolated', 'isolated->closed']);
});
