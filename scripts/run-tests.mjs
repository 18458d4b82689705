#!/usr/bin/env node
// Runs every *.test.ts under packages/*/src, packages/*/test and test/ with node's test runner and tsx.
// Usage: node scripts/run-tests.mjs [PATH-PART...]   (only the files whose path contains one of them)
// --conditions=holdfast-source: an import of a sibling package (holdfast, @holdfast/proxy…) loads
// its sources, as the root tsconfig.json's customConditions type-checks them, not its dist/.
// Node 20's `--test` does not expand `**` globs itself, so the list is built here.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function collect(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue; // packages/servicenow/test/clients/node_modules holds other projects' tests
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

const filter = process.argv.slice(2);
const roots = [...readdirSync('packages').flatMap((p) => [join('packages', p, 'src'), join('packages', p, 'test')]), 'test'];
let files = roots.filter((root) => existsSync(root)).flatMap((root) => collect(root, [])).sort();
if (filter.length > 0) files = files.filter((f) => filter.some((part) => f.includes(part)));
if (files.length === 0) {
  console.error(`no test files match ${filter.join(' ')}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--conditions=holdfast-source', '--import', 'tsx', '--test', '--test-reporter=spec', '--test-concurrency=2', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
