/**
 * Issue 23, item 1: packages by product, npm workspaces. Each package's sources import only
 * what its package.json declares; the client package depends on undici and zod alone, and
 * loads its optional peers only when a feature uses them; the packages move in one version.
 * (.ci/pack-check installs the tarballs into empty projects.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';

interface Manifest {
  name: string; version: string; bin?: Record<string, string>;
  dependencies?: Record<string, string>; peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}
const DIRS = ['client', 'proxy', 'servicenow', 'cli'];
const manifest = (dir: string) => JSON.parse(readFileSync(`packages/${dir}/package.json`, 'utf8')) as Manifest;

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** Every package a file imports (values and types), by name, with whether each import is type-only. */
function importsOf(file: string): Array<{ name: string; typeOnly: boolean }> {
  const text = readFileSync(file, 'utf8');
  const found: Array<{ name: string; typeOnly: boolean }> = [];
  for (const m of text.matchAll(/^(import|export)\s+(type\s+)?[^'";]*?from\s+'([^'.][^']*)'|import\(\s*'([^'.][^']*)'\s*\)|^import\s+'([^'.][^']*)'/gm)) {
    const spec = m[3] ?? m[4] ?? m[5]!;
    const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
    found.push({ name, typeOnly: m[2] !== undefined || (m[4] !== undefined && /typeof import\(/.test(text.slice(Math.max(0, m.index - 7), m.index + 7))) });
  }
  return found;
}

const builtins = new Set(builtinModules);
const isBuiltin = (name: string) => name.startsWith('node:') || builtins.has(name);

for (const dir of DIRS) {
  test(`${dir}: its sources import only Node's modules and what packages/${dir}/package.json declares`, () => {
    const m = manifest(dir);
    const declared = new Set([...Object.keys(m.dependencies ?? {}), ...Object.keys(m.peerDependencies ?? {})]);
    const undeclared = new Set<string>();
    for (const file of sources(`packages/${dir}/src`)) {
      for (const { name } of importsOf(file)) if (!isBuiltin(name) && !declared.has(name)) undeclared.add(`${name} (${file})`);
    }
    assert.deepEqual([...undeclared], []);
  });
}

test('the client package depends on undici and zod only; its optional peers are loaded by the feature that needs them', () => {
  const m = manifest('client');
  assert.equal(m.name, 'holdfast');
  assert.deepEqual(Object.keys(m.dependencies ?? {}).sort(), ['undici', 'zod']);
  const peers = Object.keys(m.peerDependencies ?? {});
  for (const peer of ['prom-client', 'pino', 'ioredis', 'rate-limiter-flexible', 'redis-semaphore']) {
    assert.ok(peers.includes(peer), `${peer} is a peer`);
    assert.equal(m.peerDependenciesMeta?.[peer]?.optional, true, `${peer} is optional`);
  }
  // A value import of an optional peer would load it with holdfast, and fail where it is not installed.
  const eager = sources('packages/client/src').flatMap((file) => importsOf(file)
    .filter(({ name, typeOnly }) => peers.includes(name) && !typeOnly && name !== 'axios')
    .map(({ name }) => `${name} in ${file}`));
  assert.deepEqual(eager, [], 'optional peers are imported as types only (values through optionalPackage())');
});

test('the packages share one version, pin each other at it, and the CLI package has the holdfast binary', () => {
  const manifests = DIRS.map(manifest);
  const { version } = manifests[0]!;
  const names = new Set(manifests.map((m) => m.name));
  for (const m of manifests) {
    assert.equal(m.version, version, `${m.name}'s version`);
    for (const [dep, range] of Object.entries(m.dependencies ?? {})) if (names.has(dep)) assert.equal(range, version, `${m.name} -> ${dep}`);
  }
  assert.deepEqual(manifest('cli').bin, { holdfast: 'dist/cli/main.js' });
  assert.equal((JSON.parse(readFileSync('package.json', 'utf8')) as { private?: boolean }).private, true, 'the workspace root is not published');
});
