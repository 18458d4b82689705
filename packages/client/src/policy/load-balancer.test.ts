import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoadBalancer } from './load-balancer.js';

test('round-robin is smooth weighted (nginx): weights 5,1,1 give a a b a c a a', () => {
  const lb = new LoadBalancer('round-robin', [5, 1, 1]);
  assert.deepEqual(Array.from({ length: 7 }, () => 'abc'[lb.pick()!]).join(' '), 'a a b a c a a');
});

test('round-robin with equal weights takes turns; skipped targets are passed over; all skipped is undefined', () => {
  const lb = new LoadBalancer('round-robin', [1, 1, 1]);
  assert.deepEqual([lb.pick(), lb.pick(), lb.pick(), lb.pick()], [0, 1, 2, 0]);
  const picks = Array.from({ length: 6 }, () => lb.pick((i) => i === 1));
  assert.ok(!picks.includes(1) && picks.includes(0) && picks.includes(2), `never the skipped one: ${picks.join(',')}`);
  assert.equal(lb.pick(() => true), undefined);
});

test('least-request: the fewest in flight per unit of weight, ties in turn', () => {
  const load = [2, 0, 1];
  const lb = new LoadBalancer('least-request', [1, 1, 1], { loadOf: (i) => load[i]! });
  assert.equal(lb.pick(), 1);
  load[1] = 5;
  assert.equal(lb.pick(), 2);
  load[0] = 5;
  load[2] = 5;
  assert.deepEqual([lb.pick(), lb.pick(), lb.pick()].sort(), [0, 1, 2], 'a three-way tie goes round every target');
});

test('random is weighted and skips ruled-out targets', () => {
  const values = [0.1, 0.9, 0.5];
  const lb = new LoadBalancer('random', [3, 1], { random: () => values.shift()! });
  assert.deepEqual([lb.pick(), lb.pick(), lb.pick((i) => i === 0)], [0, 1, 1]);
});
