import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Mirror, type MirrorEvent } from '../src/servicenow/mirror.js';
import { RedisStore } from '../src/servicenow/redis-store.js';
import { DEFAULT_WAITING } from '../src/servicenow/waiting.js';
import { ServiceNowSimulator } from '../src/simulate/servicenow/servicenow-simulator.js';
import { CLI_BIN, closedPort } from '../../../test/support/helpers.js';
import { LineWatcher } from '../../../test/support/line-watcher.js';
import { privateRedisOrSkip } from '../../../test/support/redis.js';
import { assertStoreEqualsInstance, nextCycle } from '../../../test/support/servicenow-helpers.js';

/** Resolves with the first mirror event that `match` accepts. */
function nextEvent(mirror: Mirror, match: (e: MirrorEvent) => boolean): Promise<MirrorEvent> {
  return new Promise((resolve) => {
    const listener = (e: MirrorEvent) => {
      if (!match(e)) return;
      mirror.off('event', listener);
      resolve(e);
    };
    mirror.on('event', listener);
  });
}

test('regression (issue 17): Redis killed mid-page under the lock holder, then restarted: the replica stays up and converges', { timeout: 90_000 }, async (t) => {
  const redis = await privateRedisOrSkip(t);
  if (redis === undefined) return;
  // Slow pages: the first load lasts long enough for Redis to die in the middle of it.
  const sim = await ServiceNowSimulator.start({ records: 600, faults: { slowMs: 40 } });
  t.after(() => sim.close());
  const prefix = 'holdfast-test:lock-loss:';
  const mirror = new Mirror({
    instance: sim.url, auth: { type: 'basic', user: 'admin', password: 'admin' }, intervalS: 1, warmPauseMs: 0, requestsPerSecond: 200, pageSize: 25,
    redis: { url: redis.url, prefix, lockTtlMs: 1000 }, // the lock is refreshed every 333 ms
  });
  t.after(() => mirror.close());
  const paging = nextEvent(mirror, (e) => e.type === 'page' && e.table === 'incident' && e.kind === 'full');
  await mirror.start();
  await paging;
  const failed = nextCycle(mirror, 'failed');
  await redis.kill();
  await failed; // the lock's refresh failed (or a store write did): the cycle stops, the process lives on

  const converged = nextCycle(mirror, 'complete');
  await redis.restart(); // empty: the mirror loads it again from scratch
  await converged;
  const store = new RedisStore(redis.url, DEFAULT_WAITING, prefix);
  t.after(() => store.close());
  await store.ready();
  await assertStoreEqualsInstance(mirror.options.fields, sim, (table) => store.records(table));
});

test('regression (issue 17): with Redis unreachable at start, the first SIGTERM stops holdfast servicenow', { timeout: 30_000 }, async (t) => {
  const port = await closedPort();
  const child = spawn(process.execPath, [CLI_BIN, 'servicenow', '--simulate', '--records', '200', '--port', '0', '--redis', `redis://127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  child.stderr!.resume();
  const out = LineWatcher.of(child);
  await out.waitFor(/dashboard listening/);
  child.kill('SIGTERM');
  const [code] = await once(child, 'close') as [number | null];
  assert.equal(code, 0, out.text);
  assert.match(out.text, /SIGTERM: stopping/);
});
