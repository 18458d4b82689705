import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EncodedQuery } from './encoded-query.js';
import { DEFAULT_WAITING, bucketsOf, waitingBucket, waitingQuery } from './waiting.js';

test('the builder writes ^, ^OR, ^NQ, IN, ISEMPTY and ORDERBY as the Table API reads them', () => {
  const q = new EncodedQuery<'active' | 'state' | 'hold_reason' | 'assigned_to' | 'priority'>()
    .where('active', '=', 'true').where('state', '=', '3').or('state', '=', '1')
    .in('hold_reason', ['1', '3']).is('assigned_to', 'ISEMPTY')
    .newQuery().where('priority', '<=', '2')
    .orderBy('sys_updated_on').orderByDesc('number');
  assert.equal(q.toString(), 'active=true^state=3^ORstate=1^hold_reasonIN1,3^assigned_toISEMPTY^NQpriority<=2^ORDERBYsys_updated_on^ORDERBYDESCnumber');
  assert.equal(new URLSearchParams({ sysparm_query: 'a=b^c=d e' }).toString(), 'sysparm_query=a%3Db%5Ec%3Dd+e', 'one parameter, ^ = and space encoded');
});

test('and() distributes over ^NQ groups; values that would change the query are refused', () => {
  const waiting = new EncodedQuery().where('state', '=', '-5').newQuery().where('on_hold', '=', 'true');
  assert.equal(new EncodedQuery().where('assignment_group', '=', 'g1').and(waiting).toString(), 'assignment_group=g1^state=-5^NQassignment_group=g1^on_hold=true');
  assert.throws(() => new EncodedQuery().where('short_description', '=', 'a^NQactive=false'), { code: 'HF_ERR_INVALID_OPTION' });
  assert.throws(() => new EncodedQuery().in('state', ['1,2']), { code: 'HF_ERR_INVALID_OPTION' });
  assert.throws(() => new EncodedQuery().where('bad field', '=', 'x'), { code: 'HF_ERR_INVALID_OPTION' });
  assert.throws(() => new EncodedQuery().or('state', '=', '1'), { code: 'HF_ERR_INVALID_OPTION' });
});

test('default waiting rules: incidents On Hold by hold reason (unknown reasons as other), change tasks pending or on hold, catalog tasks pending', () => {
  const inc = DEFAULT_WAITING.incident;
  assert.equal(waitingBucket(inc, { active: 'true', state: '3', hold_reason: '4' }), 'Awaiting Vendor');
  assert.equal(waitingBucket(inc, { active: 'true', state: '3', hold_reason: '2' }), 'On Hold, other reason');
  assert.equal(waitingBucket(inc, { active: 'false', state: '3', hold_reason: '1' }), undefined);
  assert.equal(waitingBucket(inc, { active: 'true', state: '2' }), undefined);
  assert.equal(waitingBucket(DEFAULT_WAITING.change_task, { active: 'true', state: '2', on_hold: 'true' }), 'On hold');
  assert.equal(waitingBucket(DEFAULT_WAITING.change_task, { active: 'true', state: '-5', on_hold: 'false' }), 'Pending');
  assert.equal(waitingBucket(DEFAULT_WAITING.sc_task, { active: 'true', state: '-5' }), 'Pending');
  assert.equal(waitingBucket(DEFAULT_WAITING.sc_task, { active: 'true', state: '7' }), undefined);
  assert.deepEqual(bucketsOf(DEFAULT_WAITING.change_task), ['Pending', 'On hold']);
  assert.equal(waitingQuery(DEFAULT_WAITING.change_task!).toString(), 'active=true^state=-5^NQactive=true^on_hold=true');
});
