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
  ka.observeIdleClose(1000, 5000);
  assert.equal(ka.idleLimitMs(5000), 750);
});

test('one idle close teaches nothing; a second, separate one does (issue 20)', () => {
  const ka = new KeepAliveAlignment();
  assert.equal(ka.observeIdleClose(1000, 0), 'counted');
  assert.equal(ka.learnedMs(0), undefined, 'one close could be a restart');
  assert.equal(ka.idleLimitMs(0), DEFAULT_IDLE_TIMEOUT_MS);
  ka.observeIdleClose(1010, 3000);
  assert.equal(ka.learnedMs(3000), 1010);
});

test('closes in one burst (a restart closes every socket at once) are one observation', () => {
  const ka = new KeepAliveAlignment();
  for (let i = 0; i < 10; i++) ka.observeIdleClose(300 + i, i * 10);
  assert.equal(ka.learnedMs(100), undefined);
});

test('a close right after a response (a request limit, a restart) is too soon to be an idle close', () => {
  const ka = new KeepAliveAlignment({ minLearnedMs: 100 });
  assert.equal(ka.observeIdleClose(3, 0), 'too-soon');
  assert.equal(ka.observeIdleClose(42, 5000), 'too-soon');
  assert.equal(ka.learnedMs(5000), undefined);
});

test('the learned value is the longest recent close: an earlier odd close does not lower it', () => {
  const ka = new KeepAliveAlignment();
  ka.observeIdleClose(1000, 0);
  ka.observeIdleClose(300, 5000); // a deploy closed a socket idle for 300 ms
  assert.equal(ka.learnedMs(5000), 1000);
  // The server's timeout really drops to 500 ms: three closes at 500 push the old 1000 out.
  for (const at of [10_000, 15_000, 20_000]) ka.observeIdleClose(500, at);
  assert.equal(ka.learnedMs(20_000), 500);
});

test('a close under what the server was seen keeping is outlived; a longer keep forgets closes under it', () => {
  const ka = new KeepAliveAlignment();
  ka.observeKept(2000, 0);
  assert.equal(ka.observeIdleClose(1500, 1), 'outlived', 'the server kept a socket idle 2 s: 1.5 s is not its timeout');
  ka.observeIdleClose(2500, 2000);
  ka.observeIdleClose(2500, 5000);
  assert.equal(ka.learnedMs(5000), 2500);
  ka.observeKept(3000, 6000); // a probe outlived the learned value: the limit recovers upward
  assert.equal(ka.learnedMs(6000), undefined);
  assert.equal(ka.idleLimitMs(6000), DEFAULT_IDLE_TIMEOUT_MS);
});

test('a learned close expires after its TTL unless seen again', () => {
  const ka = new KeepAliveAlignment({ learnedTtlMs: 10_000 });
  ka.observeIdleClose(1000, 0);
  ka.observeIdleClose(1000, 5000);
  assert.equal(ka.learnedMs(10_000), 1000);
  assert.equal(ka.learnedMs(10_001), undefined, 'one close of two is left: not enough');
  assert.equal(ka.idleLimitMs(15_001), DEFAULT_IDLE_TIMEOUT_MS);
});

test('a probe past a learned limit is offered at most once a minute, and only under the unlearned limit', () => {
  const ka = new KeepAliveAlignment();
  assert.equal(ka.probeUntilMs(0), 0, 'nothing learned: nothing to test');
  ka.observeIdleClose(1000, 0);
  ka.observeIdleClose(1000, 5000);
  assert.equal(ka.probeUntilMs(5000), DEFAULT_IDLE_TIMEOUT_MS);
  assert.equal(ka.probeUntilMs(6000), 0, 'one probe a minute');
  assert.equal(ka.probeUntilMs(65_000), DEFAULT_IDLE_TIMEOUT_MS);
  const hinted = new KeepAliveAlignment();
  hinted.observeHint(1000);
  hinted.observeIdleClose(1500, 0);
  hinted.observeIdleClose(1500, 5000);
  assert.equal(hinted.probeUntilMs(5000), 0, 'the hint holds the limit under the learned close anyway');
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
