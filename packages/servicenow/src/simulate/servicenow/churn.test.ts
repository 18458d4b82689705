import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../../../../test/support/fake-clock.js';
import { Churn } from './churn.js';
import { InstanceData } from './instance-data.js';
import { INCIDENT_STATES, SC_TASK_STATES } from './tables.js';

/** A random source that returns the given values in turn. */
const scripted = (...values: number[]) => () => values.shift() ?? 0;

// Regression: the churn set closed_at when it put an incident On Hold (state 3), because it
// took 3 for "closed" on every table; 3 is closed only on change_task and sc_task.
test('churn puts an incident on hold without closing it, with a hold reason', (t) => {
  const data = new InstanceData({ caseSensitive: false, strict: false });
  const incidents = data.table('incident')!;
  const incident = data.create(incidents, { state: '2' }, 't');
  const onHold = Object.keys(INCIDENT_STATES).indexOf('3') / Object.keys(INCIDENT_STATES).length;
  // table: incident (0), roll: update (0.5), state: On Hold, hold reason: the first, record: the only one.
  const churn = new Churn(data, 0, scripted(0, 0.5, onHold + 0.01, 0, 0));
  t.after(() => churn.stop());
  churn.step();
  assert.equal(incident.state, '3');
  assert.equal(incident.hold_reason, '1');
  assert.equal(incident.active, 'true');
  assert.equal(incident.closed_at, '');
});

test('churn closing a catalog task sets closed_at and makes it inactive', (t) => {
  const data = new InstanceData({ caseSensitive: false, strict: false });
  const tasks = data.table('sc_task')!;
  const task = data.create(tasks, { state: '1' }, 't');
  const closed = Object.keys(SC_TASK_STATES).indexOf('3') / Object.keys(SC_TASK_STATES).length;
  // table: sc_task (2 of 3), roll: update, state: Closed Complete, record: the only one.
  const churn = new Churn(data, 0, scripted(0.9, 0.5, closed + 0.01, 0));
  t.after(() => churn.stop());
  churn.step();
  assert.equal(task.state, '3');
  assert.equal(task.active, 'false');
  assert.notEqual(task.closed_at, '');
});

test('churn ticks on the injected clock: 5 writes a second are 5 writes per fake second, and none after stop() (issue 18)', (t) => {
  const data = new InstanceData({ caseSensitive: false, strict: false });
  data.create(data.table('incident')!, { state: '1' }, 't');
  const clock = new FakeClock();
  const churn = new Churn(data, 5, () => 0.5, clock);
  t.after(() => churn.stop());
  const writes = () => churn.counts.updated + churn.counts.created + churn.counts.deleted;
  assert.equal(writes(), 0);
  clock.advance(1_000);
  assert.equal(writes(), 5);
  clock.advance(2_000);
  assert.equal(writes(), 15);
  churn.stop();
  clock.advance(10_000);
  assert.equal(writes(), 15);
  assert.equal(clock.pending, 0, 'no timer left behind');
});
