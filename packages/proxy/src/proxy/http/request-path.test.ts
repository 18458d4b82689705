import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizePath } from './request-path.js';

test('paths that reach /admin by another spelling normalize to /admin (issue 19)', () => {
  for (const spelled of ['/%61dmin', '/%61%64%6D%69%6E', '//admin', '/./admin', '/x/../admin', '/x/y/../../admin', '/../admin', '/.%2e/admin'.replace('%2e', '.')]) {
    assert.deepEqual(normalizePath(spelled), { path: '/admin' }, spelled);
  }
  assert.deepEqual(normalizePath('/a/b/..'), { path: '/a/' });
  assert.deepEqual(normalizePath('/a/./'), { path: '/a/' });
  assert.deepEqual(normalizePath('/%7Euser//x?q=/../y'), { path: '/~user/x?q=/../y' }, 'the query is left as sent');
  assert.deepEqual(normalizePath('/a%20b'), { path: '/a%20b' }, 'a reserved or non-ASCII encoding stays encoded');
  assert.deepEqual(normalizePath('/plain/path?x=1'), { path: '/plain/path?x=1' });
  assert.deepEqual(normalizePath('/a.b/.well-known/x'), { path: '/a.b/.well-known/x' }, 'a dot inside a segment is no dot segment');
});

test('ambiguous encodings are reported, not guessed: %2F, %5C, %00 and a raw backslash', () => {
  for (const path of ['/admin%2Fx', '/a%2f', '/a%5Cb', '/a%00', '/a\\b']) assert.equal(normalizePath(path), 'ambiguous', path);
  assert.deepEqual(normalizePath('/a?x=%2F'), { path: '/a?x=%2F' }, 'in the query it is data');
});
