/**
 * Issue 23, item 3: what deploy/ ships is checked by the tools that own each format: the
 * systemd units by `systemd-analyze verify` (systemd), the alert rules by `promtool check
 * rules` (Debian's prometheus). Each skips with a notice naming the package when its tool is
 * missing (a failure under HOLDFAST_REQUIRE_ALL=1, as .ci/run sets). The Dockerfile is linted
 * by dockerfile-utils (the linter of the Docker language server, a devDependency: hadolint is
 * not packaged by Debian and its npm wrappers download it from GitHub), and gets the structural
 * checks below.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI_BIN } from './support/helpers.js';

function toolOrSkip(t: { skip(message: string): void }, command: string, pkg: string): boolean {
  if (spawnSync(command, ['--version']).error === undefined) return true;
  const message = `needs ${command} (install it: apt-get install ${pkg})`;
  if (process.env.HOLDFAST_REQUIRE_ALL === '1') throw new Error(`${message}; HOLDFAST_REQUIRE_ALL=1 makes this a failure`);
  t.skip(message);
  return false;
}

test('the systemd units pass systemd-analyze verify, with reload on SIGHUP and the hardening options', (t) => {
  if (!toolOrSkip(t, 'systemd-analyze', 'systemd')) return;
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-units-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const unit of ['holdfast-proxy.service', 'holdfast-servicenow.service']) {
    const text = readFileSync(`deploy/systemd/${unit}`, 'utf8');
    for (const option of ['NoNewPrivileges=yes', 'ProtectSystem=strict', 'User=holdfast', 'Restart=on-failure']) assert.ok(text.includes(`\n${option}\n`), `${unit}: ${option}`);
    // verify checks that ExecStart's program exists: the installed binary's path becomes this checkout's CLI.
    const local = text.replaceAll('/usr/local/bin/holdfast', `${process.execPath} ${CLI_BIN}`);
    writeFileSync(join(dir, unit), local);
    const run = spawnSync('systemd-analyze', ['verify', join(dir, unit)], { encoding: 'utf8' });
    assert.equal(run.status, 0, `${unit}: ${run.stderr}${run.stdout}`);
    assert.equal(run.stderr.trim(), '', `${unit}: no warning`);
  }
  const proxy = readFileSync('deploy/systemd/holdfast-proxy.service', 'utf8');
  assert.match(proxy, /\nExecReload=\/bin\/kill -HUP \$MAINPID\n/);
  assert.match(proxy, /\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n/);
});

test('the example alert rules pass promtool check rules, and name only metrics holdfast exports', (t) => {
  if (!toolOrSkip(t, 'promtool', 'prometheus')) return;
  const run = spawnSync('promtool', ['check', 'rules', 'deploy/prometheus/holdfast-alerts.yml'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr + run.stdout);
  const rules = readFileSync('deploy/prometheus/holdfast-alerts.yml', 'utf8');
  const reference = readFileSync('docs/reference/proxy.md', 'utf8') + readFileSync('docs/reference/servicenow.md', 'utf8');
  for (const [metric] of rules.matchAll(/holdfast_[a-z0-9_]+/g)) assert.ok(reference.includes(metric), `${metric} is a documented metric`);
});

const DOCKERFILE_LINT = fileURLToPath(new URL('../node_modules/.bin/dockerfile-utils', import.meta.url));

test('the Dockerfile passes dockerfile-utils lint, which does fail a broken one', (t) => {
  const clean = spawnSync(DOCKERFILE_LINT, ['lint', 'deploy/Dockerfile'], { encoding: 'utf8' });
  assert.equal(clean.status, 0, clean.stdout + clean.stderr);
  assert.equal(clean.stdout.trim(), '', 'no warning either');
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-dockerfile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'Dockerfile'), 'FROM node:24\nEXPOSE 80x\nMAINTAINER someone\n');
  const broken = spawnSync(DOCKERFILE_LINT, ['lint', join(dir, 'Dockerfile')], { encoding: 'utf8' });
  assert.notEqual(broken.status, 0);
  assert.match(broken.stdout, /Invalid containerPort/);
});

test('the Dockerfile builds in one stage and runs in another, as a non-root user, with a HEALTHCHECK (structural checks, beside the linter)', () => {
  const text = readFileSync('deploy/Dockerfile', 'utf8');
  const stages = [...text.matchAll(/^FROM (\S+)(?: AS (\S+))?$/gm)];
  assert.ok(stages.length >= 2, 'multi-stage');
  for (const [, image] of stages) assert.match(image!, /^node:(22|24|26)[\w.-]*$/, 'a supported Node line, pinned to its line');
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  assert.match(runtime, /^USER (?!root\b)\S+$/m, 'not root');
  assert.match(runtime, /^HEALTHCHECK /m);
  assert.doesNotMatch(runtime, /npm (ci|install)(?! --omit)/, 'no install in the runtime stage');
  assert.doesNotMatch(text, /^ADD /m, 'COPY, never ADD');
  assert.match(runtime, /^ENTRYPOINT \["holdfast"\]$/m);
});
