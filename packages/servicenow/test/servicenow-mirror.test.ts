import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Mirror } from '../src/servicenow/mirror.js';
import { ServiceNowSimulator } from '../src/simulate/servicenow/servicenow-simulator.js';
import { assertStoreEqualsInstance, freshCycle, nextCycle } from '../../../test/support/servicenow-helpers.js';

const RATE = 40;
const CONCURRENCY = 3;

test('under churn, idle resets, RST, 429 bursts, 500s and cut-off bodies, the store ends equal to the instance, within the rate and concurrency budget', { timeout: 120_000 }, async (t) => {
  const sim = await ServiceNowSimulator.start({
    records: 2000, churnPerSecond: 25,
    // One worker and a queue of one: a third request at once gets the semaphore's 429.
    workers: 1, queueDepth: 1,
    // A load balancer that drops idle connections without saying so: idle resets.
    lbIdleMs: 300,
    faults: { rstRate: 0.03, truncateRate: 0.03, status: { code: 500, count: 1, period: 13 } },
  });
  t.after(() => sim.close());
  const mirror = new Mirror({
    instance: sim.url, auth: { type: 'basic', user: 'admin', password: 'admin' },
    intervalS: 1, pageSize: 100, requestsPerSecond: RATE, concurrency: CONCURRENCY, warmPauseMs: 0, overlapS: 5,
    criticalGroups: ['Service Desk', 'Network', 'Hardware'],
  });
  t.after(() => mirror.close());
  const failures: string[] = [];
  mirror.on('event', (e) => { if (e.type === 'cycle' && e.phase === 'failed') failures.push(e.error ?? ''); });

  const first = nextCycle(mirror, 'complete');
  await mirror.start();
  await first; // warming and the full load
  assert.equal(mirror.status().ready, true);
  await freshCycle(mirror); // an incremental cycle while records change
  sim.faults = { ...sim.faults, status: { code: 429, count: 2, period: 11 } }; // 429 bursts with Retry-After
  await freshCycle(mirror);

  sim.setChurn(0);
  await freshCycle(mirror); // started after the last write
  await assertStoreEqualsInstance(mirror.options.fields, sim, (table) => mirror.store.records(table));

  const stats = sim.stats();
  assert.ok(stats.resets > 0 && stats.truncated > 0 && (stats.byStatus['500'] ?? 0) > 0 && (stats.byStatus['429'] ?? 0) > 0, `faults were injected: ${JSON.stringify(stats)}`);
  assert.ok(sim.data.table('sys_audit_delete')!.size > 0, 'churn deleted records');
  assert.ok(stats.peakRequestsPerSecond <= RATE + 1, `peak ${stats.peakRequestsPerSecond} requests in a second, budget ${RATE}/s`);
  assert.ok(stats.peakInFlight <= CONCURRENCY, `peak ${stats.peakInFlight} requests in flight, budget ${CONCURRENCY}`);
  t.diagnostic(`requests ${stats.requests}, failed cycles ${failures.length}, stats ${JSON.stringify(stats)}`);
});
