import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InstanceData } from './instance-data.js';

function instance(options = { caseSensitive: false, strict: false }) {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const data = new InstanceData(options, () => (now += 1000));
  const groups = data.table('sys_user_group')!;
  const network = data.create(groups, { name: 'Network' }, 't');
  const hardware = data.create(groups, { name: 'Hardware' }, 't');
  const incidents = data.table('incident')!;
  const rows = [
    { number: 'INC1', state: '1', priority: '1', short_description: 'VPN down', assignment_group: network.sys_id },
    { number: 'INC2', state: '2', priority: '2', short_description: 'Printer jam', assignment_group: hardware.sys_id },
    { number: 'INC3', state: '3', priority: '3', short_description: 'vpn slow', assignment_group: network.sys_id, hold_reason: '4' },
    { number: 'INC4', state: '7', priority: '4', short_description: 'Laptop', assignment_group: '' },
    { number: 'INC5', state: '3', priority: '5', short_description: 'Email', assignment_group: hardware.sys_id, hold_reason: '1' },
  ];
  for (const row of rows) data.create(incidents, row, 't');
  const run = (query: string) => data.engine.run(incidents, query).map((r) => r.number).join(',');
  return { data, run };
}

test('each operator selects what ServiceNow documents', () => {
  const { run } = instance();
  const expect: Record<string, string> = {
    'state=3': 'INC3,INC5', 'state!=3': 'INC1,INC2,INC4', 'priority<3': 'INC1,INC2', 'priority<=3': 'INC1,INC2,INC3',
    'priority>3': 'INC4,INC5', 'priority>=3': 'INC3,INC4,INC5', 'stateIN1,7': 'INC1,INC4', 'stateNOT IN1,7': 'INC2,INC3,INC5',
    'short_descriptionLIKEvpn': 'INC1,INC3', 'short_descriptionNOT LIKEvpn': 'INC2,INC4,INC5', 'numberSTARTSWITHINC': 'INC1,INC2,INC3,INC4,INC5',
    'short_descriptionENDSWITHjam': 'INC2', 'assignment_groupISEMPTY': 'INC4', 'hold_reasonISNOTEMPTY': 'INC3,INC5',
    'priorityBETWEEN2@4': 'INC2,INC3,INC4', 'numberANYTHING': 'INC1,INC2,INC3,INC4,INC5',
  };
  for (const [query, numbers] of Object.entries(expect)) assert.equal(run(`${query}^ORDERBYnumber`), numbers, query);
});

test('^OR binds tighter than ^ (AND), and ^NQ ORs whole groups', () => {
  const { run } = instance();
  // state=3 AND (priority=3 OR priority=1): INC3 only; with AND first it would also match INC1.
  assert.equal(run('state=3^priority=3^ORpriority=1^ORDERBYnumber'), 'INC3');
  assert.equal(run('state=1^priority=1^NQstate=3^hold_reason=1^ORDERBYnumber'), 'INC1,INC5');
});

test('dot-walking through a reference, ORDERBYDESC, and chained order', () => {
  const { run } = instance();
  assert.equal(run('assignment_group.name=Network^ORDERBYDESCnumber'), 'INC3,INC1');
  assert.equal(run('assignment_group.nameSTARTSWITHhard^ORDERBYDESCstate^ORDERBYnumber'), 'INC5,INC2');
});

test('an unknown field is ignored (the result widens); strict mode rejects it', () => {
  assert.equal(instance().run('state=3^no_such_field=1^ORDERBYnumber'), 'INC3,INC5');
  assert.throws(() => instance({ caseSensitive: false, strict: true }).run('state=3^no_such_field=1'), /no_such_field/);
});

test('text matching is case-insensitive unless configured otherwise', () => {
  assert.equal(instance().run('short_descriptionLIKEVPN^ORDERBYnumber'), 'INC1,INC3');
  assert.equal(instance({ caseSensitive: true, strict: false }).run('short_descriptionLIKEVPN^ORDERBYnumber'), 'INC1');
});

test('sys_updated_on ranges use the sorted index and stay right across updates', () => {
  const { data, run } = instance();
  const incidents = data.table('incident')!;
  const first = incidents.byUpdated()[0]!;
  const since = first.sys_updated_on!;
  assert.equal(run(`sys_updated_on>${since}^ORDERBYsys_updated_on^ORDERBYsys_id`), 'INC2,INC3,INC4,INC5');
  data.update(incidents, first, { state: '2' }, 't');
  assert.equal(run(`sys_updated_on>${since}^ORDERBYsys_updated_on^ORDERBYsys_id`), 'INC2,INC3,INC4,INC5,INC1');
  assert.equal(run('stateIN2^ORDERBYnumber'), 'INC1,INC2', 'the state index follows the update');
});

test('regression (issue 17): INSTANCEOF matches the class and the classes extending it', () => {
  const { run } = instance();
  assert.equal(run('sys_class_nameINSTANCEOFtask'), 'INC1,INC2,INC3,INC4,INC5');
  assert.equal(run('sys_class_nameINSTANCEOFincident^state=3'), 'INC3,INC5');
  assert.equal(run('sys_class_nameINSTANCEOFchange_task'), '');
});
