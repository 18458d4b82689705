import { test } from 'node:test';
import assert from 'node:assert/strict';
import { printable } from './printable.js';

test('printable: control characters become visible escapes; other text, accents and emoji included, is kept', () => {
  assert.equal(printable('boom\n2026-12-04 sync ok\x1b[2J\x07'), 'boom\\n2026-12-04 sync ok\\x1b[2J\\x07');
  assert.equal(printable('a\rb\tc\u0085d\u2028e\u007f'), 'a\\rb\\tc\\x85d\\u2028e\\x7f');
  assert.equal(printable('Zürich 🚀 "quoted" \\ back'), 'Zürich 🚀 "quoted" \\ back');
});
