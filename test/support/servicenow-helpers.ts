import assert from 'node:assert/strict';
import type { Mirror, MirrorEvent } from '@holdfast/servicenow/internal/servicenow/mirror.js';
import type { ServiceNowSimulator } from '@holdfast/servicenow/internal/simulate/servicenow/servicenow-simulator.js';

/** Resolves with the next cycle event of `phase` (any cycle, or one after `after`). */
export function nextCycle(mirror: Mirror, phase: 'started' | 'complete' | 'failed', after = -1): Promise<Extract<MirrorEvent, { type: 'cycle' }>> {
  return new Promise((resolve) => {
    const listener = (e: MirrorEvent) => {
      if (e.type !== 'cycle' || e.phase !== phase || e.cycle <= after) return;
      mirror.off('event', listener);
      resolve(e);
    };
    mirror.on('event', listener);
  });
}

/** Waits for a cycle that starts from now on and completes; failed cycles (faults) are retried by the mirror. */
export async function freshCycle(mirror: Mirror): Promise<number> {
  const started = await nextCycle(mirror, 'started');
  const done = await nextCycle(mirror, 'complete', started.cycle - 1);
  return done.cycle;
}

/** Asserts that every synced table (the keys of `fieldsByTable`) of the store holds exactly the instance's records, field by field. */
export async function assertStoreEqualsInstance(fieldsByTable: Readonly<Record<string, readonly string[]>>, sim: ServiceNowSimulator, records: (table: string) => Promise<Record<string, string>[]>): Promise<void> {
  for (const [table, mirrored] of Object.entries(fieldsByTable)) {
    const fields = [...new Set(['sys_id', 'sys_updated_on', 'sys_mod_count', ...mirrored])];
    const project = (r: Record<string, string>) => Object.fromEntries(fields.map((f) => [f, r[f] ?? '']));
    const expected = new Map(sim.data.table(table)!.byUpdated().map((r) => [r.sys_id!, project(r)]));
    const stored = await records(table);
    const ids = stored.map((r) => r.sys_id!);
    assert.equal(new Set(ids).size, ids.length, `${table}: no duplicate records`);
    const have = new Set(ids);
    const missing = [...expected.keys()].filter((id) => !have.has(id));
    const extra = ids.filter((id) => !expected.has(id));
    assert.deepEqual({ missing: missing.length, extra: extra.length }, { missing: 0, extra: 0 }, `${table}: same sys_ids (missing ${missing.slice(0, 3).join(',')}; deleted but kept ${extra.slice(0, 3).join(',')})`);
    for (const r of stored) assert.deepEqual(project(r), expected.get(r.sys_id!), `${table} ${r.sys_id}: not stale`);
  }
}
