import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecentMax } from './recent-max.js';

test('RecentMax keeps the largest sample of the last one to two periods', () => {
  const max = new RecentMax(1000);
  assert.equal(max.value(0), 0);
  max.record(5, 0);
  max.record(30, 100);
  max.record(10, 900);
  assert.equal(max.value(900), 30);
  max.record(8, 1000); // a new period: 30 is in the previous bucket
  assert.equal(max.value(1500), 30);
  assert.equal(max.value(2000), 8, 'two periods on, 30 is gone; 8 is the previous bucket now');
  assert.equal(max.value(5000), 0, 'nothing recent');
});
