import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDispatcher } from 'holdfast/internal/client/create-dispatcher.js';
import { BasicAuth } from '../src/servicenow/auth.js';
import { MemoryStore } from '../src/servicenow/memory-store.js';
import { SyncEngine } from '../src/servicenow/sync-engine.js';
import { LocalLock } from 'holdfast/internal/sync-lock.js';
import { CYCLE_META, SyncScheduler, TICK_MS, type CycleEvent } from '../src/servicenow/sync-scheduler.js';
import { TableClient } from '../src/servicenow/table-client.js';
import { DEFAULT_WAITING } from '../src/servicenow/waiting.js';
import { ServiceNowSimulator } from '../src/simulate/servicenow/servicenow-simulator.js';
import { FakeClock } from '../../../test/support/fake-clock.js';

/** The scheduler on the fake clock, syncing from a real simulator: no test waits for a real second to pass. */
test('the scheduler runs each cycle once per interval on the injected clock, and backs off after a failed one', async (t) => {
  const sim = await ServiceNowSimulator.start({ records: 100 });
  const dispatcher = createDispatcher({ retry: { maxAttempts: 1 } });
  t.after(async () => { await dispatcher.destroy(); await sim.close(); });
  const clock = new FakeClock();
  const store = new MemoryStore(DEFAULT_WAITING);
  const client = new TableClient({ instance: sim.url, auth: new BasicAuth('admin', 'admin'), dispatcher, attempts: 1 });
  const engine = new SyncEngine({ client, store, tables: [{ name: 'sys_user_group', fields: ['name'] }, { name: 'incident', fields: ['state'] }], now: () => clock.wallNow() });
  const events: CycleEvent[] = [];
  let ticked: () => void = () => {};
  const scheduler = new SyncScheduler({
    clock, store, lock: new LocalLock(), engine, intervalS: 60, heartbeatS: 3600, concurrency: 1,
    warm: async () => {}, warmed: async () => true, probe: async () => {}, lastContact: () => clock.wallNow(),
    onCycle: (e) => events.push(e), onStoreError: (err) => { throw err; }, onTick: () => ticked(),
  });
  t.after(() => scheduler.close());
  const tick = () => new Promise<void>((resolve) => { ticked = resolve; clock.advance(TICK_MS); });
  const cycleNow = () => Math.floor(clock.wallNow() / 60_000);

  scheduler.start();
  await new Promise<void>((resolve) => { ticked = resolve; }); // the first tick, at once
  assert.deepEqual(events.map((e) => e.phase), ['started', 'complete']);
  assert.equal(await store.getMeta(CYCLE_META), String(cycleNow()));
  for (let i = 0; i < 5; i++) await tick(); // within the same minute: nothing is due
  assert.equal(events.length, 2);

  sim.faults.status = { code: 500, count: 1000, period: 1000 }; // the instance fails every request
  const first = cycleNow();
  while (cycleNow() === first) await tick(); // second by second, into the next minute
  assert.deepEqual(events.slice(2).map((e) => e.phase), ['started', 'failed']);
  await tick(); // the backoff (1 s plus jitter) holds the next try past the next tick
  assert.equal(events.filter((e) => e.phase === 'started').length, 2, 'no try on the tick after a failure');
  sim.faults.status = undefined;
  for (let i = 0; i < 70 && events.at(-1)?.phase !== 'complete'; i++) await tick(); // the backoff (at most 1 s + 4 s) passes
  assert.equal(events.at(-1)?.phase, 'complete', 'the cycle is tried again and completes');
});
