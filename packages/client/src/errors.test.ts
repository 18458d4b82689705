import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERROR_CLASSES, HoldfastError, InvalidOptionError, isHoldfastError, StaleSocketError } from './errors.js';

const docs = readFileSync(new URL('../../../docs/reference/errors.md', import.meta.url), 'utf8');

test('every error code is unique, HF_ERR_-prefixed and matches its class', () => {
  const codes = Object.keys(ERROR_CLASSES);
  assert.equal(new Set(codes).size, codes.length);
  for (const [code, cls] of Object.entries(ERROR_CLASSES)) {
    assert.match(code, /^HF_ERR_[A-Z_]+$/);
    assert.equal(cls.code, code);
  }
});

test('every error code is documented in docs/reference/errors.md, and the docs list no other', () => {
  const documented = new Set([...docs.matchAll(/`(HF_ERR_[A-Z_]+)`/g)].map((m) => m[1]));
  assert.deepEqual([...documented].sort(), Object.keys(ERROR_CLASSES).sort());
  for (const cls of Object.values(ERROR_CLASSES)) {
    assert.ok(docs.includes(`\`${cls.name}\``), `${cls.name} is named in the docs`);
  }
});

test('errors carry code, context and cause', () => {
  const cause = new Error('read ECONNRESET');
  const err = new StaleSocketError('stale', { attempts: 1, origin: 'http://127.0.0.1:1', method: 'POST', cause });
  assert.ok(err instanceof HoldfastError);
  assert.equal(err.code, 'HF_ERR_STALE_SOCKET');
  assert.equal(err.name, 'StaleSocketError');
  assert.equal(err.attempts, 1);
  assert.equal(err.method, 'POST');
  assert.equal(err.cause, cause);
  assert.ok(isHoldfastError(err, 'HF_ERR_STALE_SOCKET'));
  assert.ok(!isHoldfastError(err, 'HF_ERR_CONNECT'));
  assert.ok(!isHoldfastError(cause));
});

test('InvalidOptionError names the option', () => {
  const err = new InvalidOptionError('retry.maxAttempts', 'expected an integer >= 1');
  assert.equal(err.option, 'retry.maxAttempts');
  assert.match(err.message, /retry\.maxAttempts/);
});
