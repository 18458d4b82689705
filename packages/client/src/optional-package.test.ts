import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MissingPackageError } from './errors.js';
import { optionalPackage } from './optional-package.js';

type Name = Parameters<typeof optionalPackage>[0];

test('an optional package that is not installed: MissingPackageError names it, the feature and the command', () => {
  assert.throws(() => optionalPackage('holdfast-no-such-package' as Name, 'metrics'), (err: unknown) => {
    assert.ok(err instanceof MissingPackageError);
    assert.equal(err.code, 'HF_ERR_MISSING_PACKAGE');
    assert.equal(err.packageName, 'holdfast-no-such-package');
    assert.equal(err.message, 'metrics needs the package holdfast-no-such-package, which is not installed: npm install holdfast-no-such-package');
    return true;
  });
});

test('an installed optional package is returned; one that fails to load for another reason is not called missing', () => {
  assert.equal(typeof optionalPackage<typeof import('prom-client')>('prom-client', 'metrics').Registry, 'function');
  // A package that is there but whose own require fails: its error, not "not installed".
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-optional-'));
  try {
    mkdirSync(join(dir, 'node_modules', 'broken'), { recursive: true });
    writeFileSync(join(dir, 'node_modules', 'broken', 'package.json'), '{"name":"broken","main":"index.js"}');
    writeFileSync(join(dir, 'node_modules', 'broken', 'index.js'), "require('its-own-missing-dependency');");
    assert.throws(() => optionalPackage(join(dir, 'node_modules', 'broken') as Name, 'a test'), (err: unknown) => !(err instanceof MissingPackageError) && /its-own-missing-dependency/.test(String(err)));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
