import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

function filesUnder(dir: string, name: RegExp): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === 'node_modules' || entry.name === 'dist') return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(path, name);
    return name.test(entry.name) ? [path] : [];
  });
}

const markdownFiles = (dir: string): string[] => filesUnder(dir, /\.md$/);

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  let fence = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fence = !fence;
    const heading = fence ? null : /^#{1,6} (.+)$/.exec(line);
    if (heading !== null) anchors.add(heading[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-'));
  }
  return anchors;
}

test('every relative link in README.md and docs/ reaches a file, and a heading when it names one (the docs split into guides/ and reference/ must not strand a link)', () => {
  const broken: string[] = [];
  for (const file of ['README.md', ...markdownFiles('docs'), ...markdownFiles('packages')]) {
    const text = readFileSync(join(ROOT, file), 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target!)) continue; // https:, mailto:
      const [path, anchor] = target!.split('#') as [string, string | undefined];
      const resolved = path === '' ? join(ROOT, file) : join(ROOT, dirname(file), path);
      if (!existsSync(resolved)) {
        broken.push(`${file}: ${target} (no ${relative(ROOT, resolved)})`);
        continue;
      }
      if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(readFileSync(resolved, 'utf8')).has(anchor)) broken.push(`${file}: ${target} (no such heading)`);
    }
  }
  assert.deepEqual(broken, []);
});

test('the docs paths and headings the code names (in messages, --help and comments) exist', () => {
  const sources = ['packages', 'bench', 'scripts'].flatMap((dir) => filesUnder(dir, /\.(ts|mjs|sh)$/));
  const cited = new Set<string>();
  for (const file of sources) for (const [path] of readFileSync(join(ROOT, file), 'utf8').matchAll(/docs\/[a-z/-]+\.md(#[a-z0-9-]+)?/g)) cited.add(path);
  assert.ok(cited.size > 0);
  const broken = [...cited].filter((cite) => {
    const [path, anchor] = cite.split('#') as [string, string | undefined];
    if (!existsSync(join(ROOT, path))) return true;
    return anchor !== undefined && !anchorsOf(readFileSync(join(ROOT, path), 'utf8')).has(anchor);
  });
  assert.deepEqual(broken, []);
});

test('every source, test and bench file the docs name in backticks exists (the newcomer\'s map must not point at a moved file)', () => {
  const missing: string[] = [];
  for (const file of ['README.md', ...markdownFiles('docs')]) {
    const text = readFileSync(join(ROOT, file), 'utf8');
    for (const [, path] of text.matchAll(/`((?:packages|test|bench|scripts|examples)\/[\w./-]+\.(?:ts|mjs|js|yaml))`/g)) {
      if (!existsSync(join(ROOT, path!))) missing.push(`${file}: ${path}`);
    }
  }
  assert.deepEqual(missing, []);
});
