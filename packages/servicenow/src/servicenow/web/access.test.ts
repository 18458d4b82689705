import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, parseUsersFile, verifyPassword } from './access.js';

test('hashPassword: salted scrypt; verifyPassword accepts the password only', () => {
  const hash = hashPassword('correct horse');
  assert.notEqual(hash, hashPassword('correct horse'), 'a new salt each time');
  assert.equal(verifyPassword('correct horse', hash), true);
  assert.equal(verifyPassword('correct hors', hash), false);
  assert.equal(verifyPassword('correct horse', 'scrypt$3$8$1$AAAA$AAAA'), false, 'parameters scrypt refuses are a failed check, not a throw');
});

test('parseUsersFile: name:hash lines, comments and blanks; a bad line is named', () => {
  const hash = hashPassword('s3cret-pass');
  const users = parseUsersFile(`# operators\n\nalice:${hash}\r\nbob:${hash}\n`, 'users.txt');
  assert.deepEqual([...users.keys()], ['alice', 'bob']);
  assert.throws(() => parseUsersFile(`alice:${hash}\nbob:plaintext\n`, 'users.txt'), /users\.txt:2: expected name:scrypt/);
  assert.throws(() => parseUsersFile('# nobody\n', 'users.txt'), /users\.txt: no users/);
});
