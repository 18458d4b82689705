import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import * as servicenow from '@holdfast/servicenow';

// The runtime surface of @holdfast/servicenow: adding or removing an export is a deliberate change to this list.
const EXPECTED = ['Mirror', 'resolveMirrorOptions', 'buildWebApp', 'hashPassword', 'ServiceNowSimulator'];

test('the ServiceNow package exports exactly the documented names', () => {
  assert.deepEqual(Object.keys(servicenow).sort(), [...EXPECTED].sort());
});

test('a mirror on the package API syncs from the simulator it exports', async (t) => {
  const simulator = await servicenow.ServiceNowSimulator.start({ port: 0, records: 30 });
  t.after(() => simulator.close());
  const mirror = new servicenow.Mirror({ instance: simulator.url, auth: { type: 'basic', user: 'admin', password: 'admin' }, intervalS: 3600, heartbeatS: 3600, warmPauseMs: 0, requestsPerSecond: 200 });
  t.after(() => mirror.close());
  const synced = () => (mirror.status().tables.incident?.records ?? 0) > 0;
  await mirror.start();
  while (!synced()) await once(mirror, 'update');
  assert.ok(mirror.summary().groups.length > 0, 'the summary has assignment groups');
});
