import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EncodedQuery, OPERATOR_KINDS, OPERATORS, parseEncodedQuery, type EmptyOperator, type ListOperator, type ValueOperator } from './encoded-query.js';

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

test('regression (issue 17): INSTANCEOF is its own operator, not IN with "STANCEOF…" as the value', () => {
  assert.deepEqual(parseEncodedQuery('sys_class_nameINSTANCEOFtask').groups, [[[c('sys_class_name', 'INSTANCEOF', 'task')]]]);
});

test('one grammar: every operator the builder writes, the parser reads back as the same condition (round trip)', () => {
  const samples: Record<string, string> = { value: 'x y', list: 'a,b', none: '', range: '1@3' };
  for (const op of OPERATORS) {
    const kind = OPERATOR_KINDS[op];
    let q = new EncodedQuery<'state'>();
    if (kind === 'value') q = q.where('state', op as ValueOperator, samples.value!);
    else if (kind === 'list') q = q.in('state', ['a', 'b'], op as ListOperator);
    else if (kind === 'none') q = q.is('state', op as EmptyOperator);
    else q = q.between('state', '1', '3');
    const parsed = parseEncodedQuery(q.orderBy('number').toString());
    assert.deepEqual(parsed.groups, [[[c('state', op, samples[kind]!)]]], `${op}: ${q.toString()}`);
    assert.deepEqual(parsed.invalid, []);
  }
  // The same for OR, NQ and ordering around them.
  const q = new EncodedQuery<'state' | 'active'>().where('state', 'NOT LIKE', 'x').or('state', 'STARTSWITH', 'y').newQuery().is('active', 'ISNOTEMPTY').orderByDesc('number');
  assert.deepEqual(parseEncodedQuery(q.toString()), {
    groups: [[[c('state', 'NOT LIKE', 'x'), c('state', 'STARTSWITH', 'y')]], [[c('active', 'ISNOTEMPTY', '')]]],
    orderBy: [{ field: 'number', desc: true }], invalid: [],
  });
});
