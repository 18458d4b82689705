import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_IDLE_TIMEOUT_MS, KeepAliveAlignment, parseKeepAliveHint, safelyBelow } from './keep-alive.js';

test('parseKeepAliveHint reads timeout= in any position, in seconds', () => {
  assert.equal(parseKeepAliveHint('timeout=5'), 5000);
  assert.equal(parseKeepAliveHint('max=100, timeout=20'), 20_000);
  assert.equal(parseKeepAliveHint('Timeout = 3'), 3000);
  assert.equal(parseKeepAliveHint('max=5'), undefined);
  assert.equal(parseKeepAliveHint('xtimeout=5'), undefined);
  assert.equal(parseKeepAliveHint(undefined), undefined);
});

test('safelyBelow keeps a quarter of short timeouts and a second of long ones', () => {
  assert.equal(safelyBelow(1000), 750);
  assert.equal(safelyBelow(5000), 4000);
  assert.equal(safelyBelow(60_000), 59_000);
  assert.equal(safelyBelow(0), 0);
});

test('with no information the limit is the safe default', () => {
  assert.equal(new KeepAliveAlignment().idleLimitMs(0), DEFAULT_IDLE_TIMEOUT_MS);
});

test('the limit is the smallest of hint, learned close and default', () => {
  const ka = new KeepAliveAlignment({ defaultIdleMs: 4000 });
  ka.observeHint(20_000);
  assert.equal(ka.idleLimitMs(0), 4000, 'a long hint never raises the limit above the default');
  ka.observeHint(3000);
  assert.equal(ka.idleLimitMs(0), 2250);
  ka.observeIdleClose(1000, 0);
  assert.equal(ka.idleLimitMs(0), 750);
  ka.observeIdleClose(2000, 1);
  assert.equal(ka.idleLimitMs(1), 750, 'a longer close does not raise the learned minimum');
});

test('a learned close expires after its TTL unless seen again', () => {
  const ka = new KeepAliveAlignment({ learnedTtlMs: 1000 });
  ka.observeIdleClose(1000, 0);
  assert.equal(ka.learnedMs(1000), 1000);
  assert.equal(ka.learnedMs(1001), undefined);
  assert.equal(ka.idleLimitMs(1001), DEFAULT_IDLE_TIMEOUT_MS);
});

test('timeout=0 means no reuse at all', () => {
  const ka = new KeepAliveAlignment();
  ka.observeHint(0);
  assert.equal(ka.idleLimitMs(0), 0);
  assert.equal(ka.maySendUnsafe(0, 0), true, 'a socket idle for 0 ms is as good as new');
  assert.equal(ka.maySendUnsafe(1, 0), false);
});

test('unsafe requests only reuse sockets idle for well under the limit', () => {
  const ka = new KeepAliveAlignment({ defaultIdleMs: 4000, unsafeReuseRatio: 0.5 });
  assert.equal(ka.maySendUnsafe(2000, 0), true);
  assert.equal(ka.maySendUnsafe(2001, 0), false);
});
