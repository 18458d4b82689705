import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adaptiveTimeoutMs, LatencyEstimator } from './latency-estimator.js';

test('no estimate until enough samples, then the quantile of the window', () => {
  const latency = new LatencyEstimator({ window: 100, quantile: 0.9, minSamples: 10 });
  for (let i = 1; i <= 9; i++) latency.record(i);
  assert.equal(latency.estimate(), undefined);
  latency.record(10);
  assert.equal(latency.estimate(), 10, 'p90 of 1..10');
  for (let i = 11; i <= 100; i++) latency.record(i);
  assert.equal(latency.estimate(), 91, 'p90 of 1..100');
});

test('old samples leave the window', () => {
  const latency = new LatencyEstimator({ window: 20, quantile: 0.5, minSamples: 1 });
  for (let i = 0; i < 20; i++) latency.record(1000);
  assert.equal(latency.estimate(), 1000);
  for (let i = 0; i < 20; i++) latency.record(5);
  assert.equal(latency.estimate(), 5, 'recomputed: only fast samples remain');
});

test('the timeout is multiplier × estimate, clamped; the maximum before any estimate', () => {
  const bounds = { multiplier: 3, minMs: 50, maxMs: 10_000 };
  assert.equal(adaptiveTimeoutMs(undefined, bounds), 10_000);
  assert.equal(adaptiveTimeoutMs(100, bounds), 300);
  assert.equal(adaptiveTimeoutMs(1, bounds), 50);
  assert.equal(adaptiveTimeoutMs(9000, bounds), 10_000);
});

test('the selected quantile matches a full sort on random data', () => {
  for (let round = 0; round < 50; round++) {
    const latency = new LatencyEstimator({ window: 97, quantile: 0.9, minSamples: 1 });
    const values = Array.from({ length: 97 }, () => Math.round(Math.random() * 1000));
    for (const v of values) latency.record(v);
    const sorted = [...values].sort((a, b) => a - b);
    assert.equal(latency.estimate(), sorted[Math.floor(0.9 * 97)]);
  }
});
