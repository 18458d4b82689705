import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { request } from 'undici';
import { resolveMirrorOptions } from '../../src/servicenow/mirror-options.js';
import { RedisStore } from '../../src/servicenow/redis-store.js';
import { DEFAULT_WAITING } from '../../src/servicenow/waiting.js';
import { ServiceNowSimulator } from '../../src/simulate/servicenow/servicenow-simulator.js';
import { redisOrSkip, uniquePrefix } from '../support/redis.js';
import { assertStoreEqualsInstance } from '../support/servicenow-helpers.js';

const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

interface Replica {
  name: string;
  child: ChildProcess;
  url: string;
  lines: string[];
  /** Emits 'line' for each line printed. */
  events: EventEmitter;
  /** Resolves with the first line (already printed or to come) that matches. */
  waitFor(pattern: RegExp): Promise<string>;
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
  const lines: string[] = [];
  const events = new EventEmitter();
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let buffered = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const parts = buffered.split('\n');
    buffered = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      events.emit('line', line);
      for (const w of waiters.filter((w) => w.pattern.test(line))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  child.stderr!.resume();
  const waitFor = (pattern: RegExp) => {
    const seen = lines.find((l) => pattern.test(l));
    return seen !== undefined ? Promise.resolve(seen) : new Promise<string>((resolve, reject) => {
      waiters.push({ pattern, resolve });
      child.once('close', () => reject(new Error(`replica ${name} exited before printing ${pattern}:\n${lines.join('\n')}`)));
    });
  };
  const listening = await waitFor(/dashboard listening on (\S+)\/dashboard/);
  return { name, child, url: /listening on (\S+)\/dashboard/.exec(listening)![1]!, lines, events, waitFor };
}

async function cleanup(t: TestContext, url: string, prefix: string): Promise<void> {
  t.after(async () => {
    const redis = new Redis(url);
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });
}

const cycles = (r: Replica, phase: string) => r.lines.flatMap((l) => { const m = new RegExp(`sync cycle (\\d+): ${phase}`).exec(l); return m === null ? [] : [Number(m[1])]; });

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
    const check = () => {
      if (new Set(completed()).size < 4) return;
      a.events.off('line', check);
      b.events.off('line', check);
      resolve();
    };
    a.events.on('line', check);
    b.events.on('line', check);
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
  const first = await a.waitFor(/sync cycle \d+: started/);
  const cycle = Number(/sync cycle (\d+)/.exec(first)![1]);
  const b = await replica(t, 'B', args);
  await a.waitFor(/first load of incident: [1-9]/); // past the warming, inside a table's full load
  a.child.kill('SIGKILL');
  await once(a.child, 'close');
  const resumed = await b.waitFor(new RegExp(`sync cycle ${cycle}: started \\(resuming an interrupted cycle\\)`));
  assert.match(resumed, /\[replica B\]/);
  await b.waitFor(new RegExp(`sync cycle ${cycle}: complete`));
  assert.deepEqual(cycles(a, 'complete'), []);

  const store = new RedisStore(url, DEFAULT_WAITING, prefix);
  t.after(() => store.close());
  await store.ready();
  const { fields } = resolveMirrorOptions({ instance: sim.url, auth: { type: 'basic', user: 'u', password: 'p' } });
  await assertStoreEqualsInstance(fields, sim, (table) => store.records(table));
});
