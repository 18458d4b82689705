import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createDispatcher } from 'holdfast/internal/client/create-dispatcher.js';
import { BasicAuth } from '../src/servicenow/auth.js';
import { keysetPages } from '../src/servicenow/keyset-pager.js';
import { MemoryStore } from '../src/servicenow/memory-store.js';
import { SyncEngine, type SyncEvent } from '../src/servicenow/sync-engine.js';
import { TableClient, type ListOptions, type Page } from '../src/servicenow/table-client.js';
import { DEFAULT_WAITING } from '../src/servicenow/waiting.js';
import { ServiceNowSimulator } from '../src/simulate/servicenow/servicenow-simulator.js';
import { assertStoreEqualsInstance } from '../../../test/support/servicenow-helpers.js';

const CROWDED = '2030-01-01 00:00:00';
const LATER = '2030-01-01 00:00:05';
const FIELDS = { incident: ['number', 'short_description', 'state'] };

async function setup(t: TestContext, records = 200) {
  const sim = await ServiceNowSimulator.start({ records });
  const dispatcher = createDispatcher({ retry: { statuses: [429, 500, 503] } });
  t.after(async () => { await dispatcher.destroy(); await sim.close(); });
  const client = new TableClient({ instance: sim.url, auth: new BasicAuth('admin', 'admin'), dispatcher });
  return { sim, client };
}

/**
 * A client that runs `change` once, right after the answer to the first request that
 * walks `second` by itself: the instance changes in the middle of that walk.
 */
function changingDuringWalk(client: TableClient, second: string, change: () => void): Pick<TableClient, 'list'> {
  let changed = false;
  return {
    async list(table: string, options?: ListOptions): Promise<Page> {
      const page = await client.list(table, options);
      if (!changed && options?.query?.startsWith(`sys_updated_on=${second}`)) {
        changed = true;
        change();
      }
      return page;
    },
  };
}

/** Puts 25 incidents in one second (pages of 10: more than a page share it) and returns them in sys_id order. */
function crowd(sim: ServiceNowSimulator) {
  const incidents = sim.data.table('incident')!;
  const crowded = incidents.byUpdated().slice(0, 25);
  for (const r of crowded) incidents.update(r, { sys_updated_on: CROWDED });
  return { incidents, crowded: [...crowded].sort((a, b) => (a.sys_id! < b.sys_id! ? -1 : 1)) };
}

/** Edits 3 and deletes 2 of the first 10 records of the crowded second: each leaves the second. */
function editAndDelete(sim: ServiceNowSimulator, crowded: ReturnType<typeof crowd>['crowded']) {
  const incidents = sim.data.table('incident')!;
  for (const r of crowded.slice(0, 3)) incidents.update(r, { sys_updated_on: LATER, short_description: 'edited during the walk', sys_mod_count: String(Number(r.sys_mod_count) + 1) });
  for (const r of crowded.slice(3, 5)) sim.data.delete(incidents, r, 'admin');
}

test('regression (issue 17): records edited or deleted while a crowded second is walked make no other record be skipped', async (t) => {
  const { sim, client } = await setup(t);
  const { incidents, crowded } = crowd(sim);
  const changing = changingDuringWalk(client, CROWDED, () => editAndDelete(sim, crowded));
  const seen = new Map<string, string>();
  for await (const page of keysetPages(changing, 'incident', { fields: ['sys_id', 'sys_updated_on'], pageSize: 10 })) {
    for (const r of page.records) seen.set(r.sys_id!, r.sys_updated_on!);
  }
  const missing = incidents.byUpdated().filter((r) => !seen.has(r.sys_id!));
  assert.deepEqual(missing.map((r) => r.sys_id), [], 'every record still on the instance was read');
  for (const r of crowded.slice(0, 3)) assert.equal(seen.get(r.sys_id!), LATER, 'an edited record is read again at its new time');
});

test('regression (issue 17): a full sync through a crowded second with edits and deletes during the walk ends with the store equal to the instance', async (t) => {
  const { sim, client } = await setup(t);
  const { crowded } = crowd(sim);
  const store = new MemoryStore(DEFAULT_WAITING);
  const engine = new SyncEngine({ client: changingDuringWalk(client, CROWDED, () => editAndDelete(sim, crowded)), store, tables: [{ name: 'incident', fields: FIELDS.incident }], pageSize: 10 });
  await engine.syncTable('incident');
  await assertStoreEqualsInstance(FIELDS, sim, (table) => store.records(table));
});

/** An engine on a memory store that checks every sys_id on each incremental pass. */
function checkingEngine(client: Pick<TableClient, 'list'>, events: SyncEvent[] = []) {
  const store = new MemoryStore(DEFAULT_WAITING);
  const engine = new SyncEngine({ client, store, tables: [{ name: 'incident', fields: FIELDS.incident }], pageSize: 50, fullCheckEveryMs: 0, onEvent: (e) => events.push(e) });
  return { store, engine };
}

test('regression (issue 17): an empty 200 to the sys_id check (ACLs hiding every row) keeps the store, and the table state says so', async (t) => {
  const { sim, client } = await setup(t);
  const events: SyncEvent[] = [];
  const { store, engine } = checkingEngine(client, events);
  await engine.syncTable('incident'); // the full load
  const loaded = (await store.ids('incident')).size;
  assert.equal(loaded, sim.data.table('incident')!.size);
  sim.faults.hiddenTables = ['incident'];
  await engine.syncTable('incident'); // incremental, then the check: every row is "gone"
  assert.equal((await store.ids('incident')).size, loaded, 'no record deleted on a listing that could be an error');
  assert.deepEqual((await store.state('incident'))?.refusedCheck?.deletes, loaded);
  assert.ok(events.some((e) => e.type === 'refused' && e.deletes === loaded));

  sim.faults.hiddenTables = [];
  await engine.syncTable('incident');
  assert.equal((await store.state('incident'))?.refusedCheck, undefined, 'a check that passes clears the flag');
  await assertStoreEqualsInstance(FIELDS, sim, (table) => store.records(table));
});

test('a check that finds a few records gone (under the share) deletes them', async (t) => {
  const { sim, client } = await setup(t);
  const { store, engine } = checkingEngine(client);
  await engine.syncTable('incident');
  const incidents = sim.data.table('incident')!;
  // Gone without an audit row (the integration user may not read sys_audit_delete): only the check sees it.
  for (const r of incidents.byUpdated().slice(0, 3)) incidents.delete(r);
  await engine.syncTable('incident');
  await assertStoreEqualsInstance(FIELDS, sim, (table) => store.records(table));
});

test('regression (issue 17): a record deleted and then restored with the same sys_id is present, and stays present', async (t) => {
  const { sim, client } = await setup(t);
  const { store, engine } = checkingEngine(client);
  await engine.syncTable('incident');
  const incidents = sim.data.table('incident')!;
  const [recreated, undeleted] = incidents.byUpdated().slice(10, 12).map((r) => ({ ...r }));
  sim.data.delete(incidents, incidents.get(recreated!.sys_id!)!, 'admin');
  sim.data.delete(incidents, incidents.get(undeleted!.sys_id!)!, 'admin');
  await engine.syncTable('incident');
  assert.equal((await store.ids('incident')).has(recreated!.sys_id!), false, 'the delete was applied');

  // Created again through the API with its sys_id (new sys_updated_on, the audit row still in the overlap) ...
  const res = await fetch(`${sim.url}/api/now/table/incident`, {
    method: 'POST', headers: { authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sys_id: recreated!.sys_id, short_description: recreated!.short_description, state: recreated!.state }),
  });
  assert.equal(res.status, 201);
  // ... and restored as it was (its old sys_updated_on, behind the watermark), as an undelete does.
  incidents.insert(undeleted!);
  for (let cycle = 0; cycle < 3; cycle++) {
    await engine.syncTable('incident');
    const ids = await store.ids('incident');
    assert.ok(ids.has(recreated!.sys_id!) && ids.has(undeleted!.sys_id!), `both present after cycle ${cycle + 1}`);
  }
  await assertStoreEqualsInstance(FIELDS, sim, (table) => store.records(table));
});
