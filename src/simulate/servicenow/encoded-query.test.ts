import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEncodedQuery } from './encoded-query.js';

const c = (field: string, op: string, value: string) => ({ field, op, value });

test('^ is AND, ^OR binds only its two neighbours, ^NQ starts a new group', () => {
  const q = parseEncodedQuery('active=true^state=3^ORstate=-5^priority<3^NQon_hold=true');
  assert.deepEqual(q.groups, [
    [[c('active', '=', 'true')], [c('state', '=', '3'), c('state', '=', '-5')], [c('priority', '<', '3')]],
    [[c('on_hold', '=', 'true')]],
  ]);
});

test('chained ORDERBY / ORDERBYDESC, and a trailing ^EQ is ignored', () => {
  const q = parseEncodedQuery('active=true^ORDERBYsys_updated_on^ORDERBYDESCsys_id^EQ');
  assert.deepEqual(q.orderBy, [{ field: 'sys_updated_on', desc: false }, { field: 'sys_id', desc: true }]);
  assert.deepEqual(q.groups, [[[c('active', '=', 'true')]]]);
  assert.deepEqual(q.invalid, []);
});

test('every operator parses, the longest first (NOT IN before IN, <= before <)', () => {
  const cases: [string, string, string, string][] = [
    ['stateNOT IN1,2', 'state', 'NOT IN', '1,2'], ['stateIN1,2', 'state', 'IN', '1,2'], ['numberNOT LIKE00', 'number', 'NOT LIKE', '00'],
    ['short_descriptionLIKEvpn', 'short_description', 'LIKE', 'vpn'], ['numberSTARTSWITHINC', 'number', 'STARTSWITH', 'INC'],
    ['numberENDSWITH1', 'number', 'ENDSWITH', '1'], ['assigned_toISEMPTY', 'assigned_to', 'ISEMPTY', ''], ['assigned_toISNOTEMPTY', 'assigned_to', 'ISNOTEMPTY', ''],
    ['priorityBETWEEN1@3', 'priority', 'BETWEEN', '1@3'], ['priority<=2', 'priority', '<=', '2'], ['priority>=2', 'priority', '>=', '2'],
    ['priority!=2', 'priority', '!=', '2'], ['priority<2', 'priority', '<', '2'], ['priority>2', 'priority', '>', '2'],
    ['assignment_group.name=Network', 'assignment_group.name', '=', 'Network'], ['sys_updated_on>=2026-01-01 00:00:00', 'sys_updated_on', '>=', '2026-01-01 00:00:00'],
  ];
  for (const [text, field, op, value] of cases) assert.deepEqual(parseEncodedQuery(text).groups, [[[c(field, op, value)]]], text);
});

test('a part without an operator is reported as invalid, not a condition', () => {
  assert.deepEqual(parseEncodedQuery('active=true^garbage').invalid, ['garbage']);
});
