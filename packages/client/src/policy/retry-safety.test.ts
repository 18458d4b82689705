import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isIdempotentMethod, isSafeToRepeat } from './retry-safety.js';

test('idempotent methods per RFC 9110 §9.2.2 (and QUERY), in any case; POST and PATCH are not', () => {
  for (const m of ['GET', 'head', 'OPTIONS', 'trace', 'PUT', 'delete', 'QUERY']) assert.equal(isIdempotentMethod(m), true, m);
  for (const m of ['POST', 'patch', 'CONNECT']) assert.equal(isIdempotentMethod(m), false, m);
});

test('safe to repeat: the caller\'s word first, then the method, then an Idempotency-Key', () => {
  assert.equal(isSafeToRepeat('POST'), false);
  assert.equal(isSafeToRepeat('POST', { idempotencyKey: 'k' }), true);
  assert.equal(isSafeToRepeat('POST', { declared: true }), true);
  assert.equal(isSafeToRepeat('GET', { declared: false }), false);
});
