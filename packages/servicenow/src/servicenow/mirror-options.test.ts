import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveMirrorOptions, withInstance } from './mirror-options.js';

const input = { instance: 'https://acme.service-now.com', auth: { type: 'basic', user: 'u', password: 'p' } };

test('options are validated once: resolved options given again come back as they are (the CLI resolved them twice, issue 18)', () => {
  const resolved = resolveMirrorOptions(input);
  assert.equal(resolveMirrorOptions(resolved), resolved);
  assert.ok(Object.isFrozen(resolved));
  const moved = withInstance(resolved, 'http://127.0.0.1:4000');
  assert.equal(moved.instance, 'http://127.0.0.1:4000');
  assert.equal(resolveMirrorOptions(moved), moved);
  assert.deepEqual({ ...moved, instance: resolved.instance }, { ...resolved });
  assert.throws(() => withInstance(resolved, 'ftp://x'), /instance/);
});
