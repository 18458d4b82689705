import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { resolveMirrorOptions } from '../src/servicenow/mirror-options.js';
import { RedisStore } from '../src/servicenow/redis-store.js';
import { DEFAULT_WAITING } from '../src/servicenow/waiting.js';
import { ServiceNowSimulator } from '../src/simulate/servicenow/servicenow-simulator.js';
import { redisOrSkip, uniquePrefix } from '../../../test/support/redis.js';
import { LineWatcher } from '../../../test/support/line-watcher.js';
import { assertStoreEqualsInstance } from '../../../test/support/servicenow-helpers.js';

const CLI = new URL('../../cli/dist/cli/main.js', import.meta.url).pathname;

interface Replica {
  name: string;
  child: ChildProcess;
  url: string;
  /** What it printed, line by line, as it comes. */
  out: LineWatcher;
}

/** Starts `holdfast servicenow` as a child process: a replica as it runs in production. */
async function replica(t: TestContext, name: string, args: string[]): Promise<Replica> {
  const child = spawn(process.execPath, [CLI, 'servicenow', '--port', '0', '--replica', name, ...args], {
    env: { ...process.env, SERVICENOW_USER: 'admin', SERVICENOW_PASSWORD: 'admin' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await once(child, 'close');
    }
  });
  child.stderr!.resume();
  const out = LineWatcher.of(child);
  const listening = await out.waitFor(/dashboard listening on (\S+)\/dashboard/);
  return { name, child, url: /listening on (\S+)\/dashboard/.exec(listening)![1]!, out };
}

async function cleanup(t: TestContext, url: string, prefix: string): Promise<void> {
  t.after(async () => {
    const redis = new Redis(url);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
}

const cycles = (r: Replica, phase: string) => r.out.lines.flatMap((l) => { const m = new RegExp(`sync cycle (\\d+): ${phase}`).exec(l); return m === null ? [] : [Number(m[1])]; });

async function summary(r: Replica): Promise<unknown> {
  const res = await request(`${r.url}/api/summary`);
  return ((await res.body.json()) as { summary: unknown }).summary;
}

test('two replicas on one Redis: exactly one sync per cycle, and both serve identical counts', { timeout: 120_000 }, async (t) => {
  const url = await redisOrSkip(t);
  if (url === undefined) return;
  const prefix = `${uniquePrefix('mirror')}:`;
  await cleanup(t, url, prefix);
  const sim = await ServiceNowSimulator.start({ records: 1500 });
  t.after(() => sim.close());
  const args = ['--instance', sim.url, '--redis', url, '--redis-prefix', prefix, '--interval', '2', '--page-size', '200', '--rate', '100'];
  const [a, b] = await Promise.all([replica(t, 'A', args), replica(t, 'B', args)]);

  // Wait until three cycles after the first have completed, by whichever replica.
  const completed = () => [...cycles(a, 'complete'), ...cycles(b, 'complete')];
  await new Promise<void>((resolve) => {
    const offs: (() => void)[] = [];
    const check = () => {
      if (new Set(completed()).size < 4) return;
      for (const off of offs) off();
      resolve();
    };
    offs.push(a.out.onLine(check), b.out.onLine(check));
    check();
  });
  const done = completed();
  assert.equal(new Set(done).size, done.length, `a cycle completed twice: A ${cycles(a, 'complete').join(',')} B ${cycles(b, 'complete').join(',')}`);
  const started = [...cycles(a, 'started'), ...cycles(b, 'started')];
  assert.equal(new Set(started).size, started.length, `a cycle started twice: A ${cycles(a, 'started').join(',')} B ${cycles(b, 'started').join(',')}`);

  // No churn: after the last cycle both replicas hold the store's numbers.
  const [sa, sb] = await Promise.all([summary(a), summary(b)]);
  assert.deepEqual(sa, sb);
  assert.ok(((sa as { groups: unknown[] }).groups).length > 0);
});

test('the replica holding the lock is killed mid-cycle: the other takes the lock after its TTL and completes the cycle; the store equals the instance', { timeout: 120_000 }, async (t) => {
  const url = await redisOrSkip(t);
  if (url === undefined) return;
  const prefix = `${uniquePrefix('mirror-kill')}:`;
  await cleanup(t, url, prefix);
  // Slow pages make the first load last long enough to be interrupted.
  const sim = await ServiceNowSimulator.start({ records: 3000, faults: { slowMs: 60 } });
  t.after(() => sim.close());
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-replicas-'));
  writeFileSync(join(dir, 'mirror.yaml'), 'redis:\n  lockTtlMs: 2000\n');
  const args = ['--instance', sim.url, '--redis', url, '--redis-prefix', prefix, '--interval', '3600', '--page-size', '100', '--rate', '100', '--config', join(dir, 'mirror.yaml')];
  const a = await replica(t, 'A', args);
  const first = await a.out.waitFor(/sync cycle \d+: started/);
  const cycle = Number(/sync cycle (\d+)/.exec(first)![1]);
  const b = await replica(t, 'B', args);
  await a.out.waitFor(/first load of incident: [1-9]/); // past the warming, inside a table's full load
  a.child.kill('SIGKILL');
  await once(a.child, 'close');
  const resumed = await b.out.waitFor(new RegExp(`sync cycle ${cycle}: started \\(resuming an interrupted cycle\\)`));
  assert.match(resumed, /\[replica B\]/);
  await b.out.waitFor(new RegExp(`sync cycle ${cycle}: complete`));
  assert.deepEqual(cycles(a, 'complete'), []);

  const store = new RedisStore(url, DEFAULT_WAITING, prefix);
  t.after(() => store.close());
  await store.ready();
  const { fields } = resolveMirrorOptions({ instance: sim.url, auth: { type: 'basic', user: 'u', password: 'p' } });
  await assertStoreEqualsInstance(fields, sim, (table) => store.records(table));
});
