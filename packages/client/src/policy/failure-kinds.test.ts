import { test } from 'node:test';
import assert from 'node:assert/strict';
import { failureKind } from './failure-kinds.js';

const wire = (written: boolean, reused: boolean, responseBytes = false) => ({ written, reused, responseBytes });

test('failure kinds: nothing written is a connect failure; a lost reused socket with no answer is stale; otherwise the outcome is unknown', () => {
  assert.equal(failureKind('ECONNREFUSED', undefined), 'connect');
  assert.equal(failureKind('ECONNRESET', wire(false, true)), 'connect', 'reset before the request was written');
  assert.equal(failureKind('ECONNRESET', wire(true, true)), 'stale');
  assert.equal(failureKind('EPIPE', wire(true, true, true)), 'socket', 'an answer had begun');
  assert.equal(failureKind('ECONNRESET', wire(true, false)), 'socket', 'a fresh socket is not stale');
  assert.equal(failureKind('UND_ERR_HEADERS_TIMEOUT', wire(true, true)), 'timeout');
  assert.equal(failureKind('ERR_TLS_CERT_ALTNAME_INVALID', undefined), 'tls');
  assert.equal(failureKind('EWHATEVER', wire(true, false)), 'other');
});
