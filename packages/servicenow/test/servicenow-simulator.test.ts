import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { ServiceNowSimulator } from '../src/simulate/servicenow/servicenow-simulator.js';
import { resolveSimulatorOptions, type SimulatorOptions } from '../src/simulate/servicenow/options.js';

const BASIC = `Basic ${Buffer.from('admin:admin').toString('base64')}`;

async function simulator(t: TestContext, options: SimulatorOptions = {}) {
  const sim = await ServiceNowSimulator.start({ records: 200, ...options });
  const agent = new Agent();
  t.after(async () => {
    await agent.close();
    await sim.close();
  });
  const call = async (path: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) => {
    const res = await request(`${sim.url}${path}`, { dispatcher: agent, method: (init.method ?? 'GET') as 'GET', headers: { authorization: BASIC, ...init.headers }, body: init.body });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
  };
  return { sim, call };
}

const result = (json: Record<string, unknown>) => json.result as Record<string, unknown>[];

test('list: every value a string, X-Total-Count, and the Link header in ServiceNow\'s exact format', async (t) => {
  const { sim, call } = await simulator(t);
  const res = await call('/api/now/table/incident?sysparm_limit=30&sysparm_offset=30&sysparm_query=ORDERBYnumber&sysparm_fields=number,state');
  assert.equal(res.status, 200);
  assert.equal(res.headers['x-total-count'], '100');
  assert.equal(res.headers['content-type'], 'application/json;charset=UTF-8');
  const url = (offset: number) => `<${sim.url}/api/now/table/incident?sysparm_query=ORDERBYnumber&sysparm_fields=number%2Cstate&sysparm_limit=30&sysparm_offset=${offset}>`;
  assert.equal(res.headers.link, `${url(0)};rel="first",${url(0)};rel="prev",${url(60)};rel="next",${url(90)};rel="last"`);
  const rows = result(res.json());
  assert.equal(rows.length, 30);
  assert.deepEqual(Object.keys(rows[0]!), ['number', 'state']);
  assert.ok(rows.every((r) => typeof r.number === 'string' && typeof r.state === 'string'));
  const last = await call('/api/now/table/incident?sysparm_limit=30&sysparm_offset=90&sysparm_query=ORDERBYnumber');
  assert.ok(!String(last.headers.link).includes('rel="next"'), 'no next on the last page');
  assert.equal(result(last.json()).length, 10);
  const first = await call('/api/now/table/incident?sysparm_limit=1');
  assert.match(String(first.headers.link), /sysparm_offset=-1>;rel="prev"/, 'prev is offset − limit, −1 on the first page as captures show');
});

test('sysparm_no_count, sysparm_suppress_pagination_header, the default limit of 10000, and an empty result', async (t) => {
  const { call } = await simulator(t);
  const res = await call('/api/now/table/incident?sysparm_no_count=true&sysparm_suppress_pagination_header=true');
  assert.equal(res.headers['x-total-count'], undefined);
  assert.equal(res.headers.link, undefined);
  assert.equal(result(res.json()).length, 100, 'all 100 incidents fit in the default limit');
  const empty = await call('/api/now/table/incident?sysparm_query=number=NONE');
  assert.equal(empty.status, 200);
  assert.equal(empty.text, '{"result":[]}');
  const v1 = await call('/api/now/v1/table/incident?sysparm_query=number=NONE');
  assert.equal(v1.status, 404, 'v1 answers 404 where v2 answers an empty list');
});

test('display values: reference and choice fields in the false / true / all forms, with and without links', async (t) => {
  const { sim, call } = await simulator(t);
  const row = (await call('/api/now/table/incident?sysparm_limit=1&sysparm_query=assignment_groupISNOTEMPTY^state=3')).json();
  const { sys_id: id, assignment_group: group } = result(row)[0] as { sys_id: string; assignment_group: { value: string; link: string } };
  const name = sim.data.table('sys_user_group')!.get(group.value)!.name;
  const link = `${sim.url}/api/now/table/sys_user_group/${group.value}`;
  const forms: [string, unknown, unknown][] = [
    ['false', { link, value: group.value }, '3'],
    ['false&sysparm_exclude_reference_link=true', group.value, '3'],
    ['true', { display_value: name, link }, 'On Hold'],
    ['true&sysparm_exclude_reference_link=true', name, 'On Hold'],
    ['all', { display_value: name, link, value: group.value }, { display_value: 'On Hold', value: '3' }],
    ['all&sysparm_exclude_reference_link=true', { display_value: name, value: group.value }, { display_value: 'On Hold', value: '3' }],
  ];
  for (const [mode, reference, state] of forms) {
    const got = (await call(`/api/now/table/incident/${id}?sysparm_display_value=${mode}&sysparm_fields=assignment_group,state,assignment_group.name,no_such_field`)).json().result as Record<string, unknown>;
    assert.deepEqual(got.assignment_group, reference, mode);
    assert.deepEqual(got.state, state, mode);
    assert.ok(!('no_such_field' in got), 'unknown fields are ignored');
  }
  const unassigned = result((await call('/api/now/table/incident?sysparm_limit=1&sysparm_query=assignment_groupISEMPTY&sysparm_display_value=all')).json());
  assert.equal(unassigned[0]!.assignment_group, '', 'an empty reference is "" in every mode');
});

test('error shapes: 400 invalid table, 401 with its challenge, 403, 404, unknown URI', async (t) => {
  const { call } = await simulator(t);
  const envelope = (message: string, detail: string | null) => ({ error: { message, detail }, status: 'failure' });
  const invalid = await call('/api/now/table/nope');
  assert.equal(invalid.status, 400);
  assert.deepEqual(invalid.json(), envelope('Invalid table nope', null));
  const anonymous = await call('/api/now/table/incident', { headers: { authorization: 'Basic eDp5' } });
  assert.equal(anonymous.status, 401);
  assert.deepEqual(anonymous.json(), envelope('User Not Authenticated', 'Required to provide Auth information'));
  assert.equal(anonymous.headers['www-authenticate'], 'BASIC realm="Service-now"');
  const auditWrite = await call('/api/now/table/sys_audit_delete', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(auditWrite.status, 403);
  assert.equal((auditWrite.json().error as { message: string }).message, 'Operation Failed');
  const missing = await call('/api/now/table/incident/0123456789abcdef0123456789abcdef');
  assert.equal(missing.status, 404);
  assert.deepEqual(missing.json(), envelope('No Record found', "Record doesn't exist or ACL restricts the record retrieval"));
  const nowhere = await call('/api/now/nothing');
  assert.equal(nowhere.status, 400);
  assert.deepEqual(nowhere.json(), envelope('Requested URI does not represent any resource', null));
});

test('writes: POST 201 with Location, PATCH 200 keeps active in step, DELETE 204 and an audit row', async (t) => {
  const { sim, call } = await simulator(t);
  const json = { 'content-type': 'application/json' };
  const created = await call('/api/now/table/incident', { method: 'POST', headers: json, body: JSON.stringify({ short_description: 'x', state: '1' }) });
  assert.equal(created.status, 201);
  const record = created.json().result as Record<string, string>;
  assert.equal(created.headers.location, `${sim.url}/api/now/table/incident/${record.sys_id}`);
  assert.match(record.number!, /^INC\d{7}$/);
  assert.match(record.sys_updated_on!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  const closed = await call(`/api/now/table/incident/${record.sys_id}`, { method: 'PATCH', headers: json, body: '{"state":"7"}' });
  assert.equal(closed.status, 200);
  assert.equal((closed.json().result as Record<string, string>).active, 'false');
  const deleted = await call(`/api/now/table/incident/${record.sys_id}`, { method: 'DELETE' });
  assert.equal(deleted.status, 204);
  assert.equal(deleted.text, '');
  const audit = result((await call(`/api/now/table/sys_audit_delete?sysparm_query=documentkey=${record.sys_id}`)).json());
  assert.equal(audit[0]?.tablename, 'incident');
});

test('OAuth: password, refresh_token and client_credentials grants; a revoked refresh token is refused', async (t) => {
  const { sim, call } = await simulator(t);
  const token = async (form: Record<string, string>) => {
    const res = await request(`${sim.url}/oauth_token.do`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ client_id: 'holdfast', client_secret: 'holdfast', ...form }).toString() });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, string | number> };
  };
  const password = await token({ grant_type: 'password', username: 'admin', password: 'admin' });
  assert.equal(password.status, 200);
  assert.equal(password.body.token_type, 'Bearer');
  assert.equal(password.body.expires_in, 1800);
  assert.equal(typeof password.body.refresh_token, 'string');
  const bearer = await call('/api/now/table/incident?sysparm_limit=1', { headers: { authorization: `Bearer ${password.body.access_token}` } });
  assert.equal(bearer.status, 200);
  const refreshed = await token({ grant_type: 'refresh_token', refresh_token: String(password.body.refresh_token) });
  assert.equal(refreshed.status, 200);
  assert.equal(refreshed.body.access_token, password.body.access_token, 'within its lifetime the current access token comes back');
  const client = await token({ grant_type: 'client_credentials' });
  assert.equal(client.status, 200);
  assert.equal(client.body.refresh_token, undefined);
  assert.equal((await token({ grant_type: 'password', username: 'admin', password: 'wrong' })).status, 401);
  const json = await request(`${sim.url}/oauth_token.do`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type":"password"}' });
  assert.equal(json.statusCode, 400, 'a JSON body is refused: the endpoint takes a form');
  await json.body.dump();
  sim.auth.revoke({ refreshToken: String(password.body.refresh_token) });
  assert.equal((await token({ grant_type: 'refresh_token', refresh_token: String(password.body.refresh_token) })).status, 401);
});

test('rate-limit rules: X-RateLimit-* on matching requests, then 429 with Retry-After', async (t) => {
  const { call } = await simulator(t, { rateLimits: [{ user: '*', limit: 2, table: 'incident' }] });
  for (let i = 0; i < 2; i++) {
    const ok = await call('/api/now/table/incident?sysparm_limit=1');
    assert.equal(ok.status, 200);
    assert.equal(ok.headers['x-ratelimit-limit'], '2');
    assert.match(String(ok.headers['x-ratelimit-reset']), /^\d{10}$/);
    assert.match(String(ok.headers['x-ratelimit-rule']), /^[0-9a-f]{32}$/);
    assert.equal(ok.headers['x-ratelimit-remaining'], undefined, 'ServiceNow sends no Remaining header');
  }
  const denied = await call('/api/now/table/incident?sysparm_limit=1');
  assert.equal(denied.status, 429);
  assert.ok(Number(denied.headers['retry-after']) > 0 && Number(denied.headers['retry-after']) <= 3600);
  assert.deepEqual(denied.json().error, { message: 'Rate limit exceeded', detail: 'Rate limit of 2 requests per hour for Table API exceeded' });
  assert.equal((await call('/api/now/table/sys_user?sysparm_limit=1')).headers['x-ratelimit-limit'], undefined, 'other tables do not match the rule');
});

test('the transaction quota: a query running past it returns 200 with a cut-off body and an appended error, or 500', async (t) => {
  const { call } = await simulator(t, { maxTransactionMs: 50, rowCostUs: 2000 });
  const cut = await call('/api/now/table/incident?sysparm_limit=100');
  assert.equal(cut.status, 200);
  assert.throws(() => JSON.parse(cut.text), 'the body is not valid JSON');
  assert.ok(cut.text.startsWith('{"result":[{'));
  assert.ok(cut.text.endsWith('{"error":{"message":"Transaction cancelled: maximum execution time exceeded","detail":"Transaction cancelled: maximum execution time exceeded Check logs for error trace or enable glide.rest.debug property to verify REST request processing"},"status":"failure"}'));
  assert.equal((await call('/api/now/table/incident?sysparm_limit=10')).status, 200, 'a small page fits in the quota');
  const { call: call500 } = await simulator(t, { maxTransactionMs: 50, rowCostUs: 2000, onTransactionTimeout: '500' });
  assert.equal((await call500('/api/now/table/incident?sysparm_limit=100')).status, 500);
});

test('the inbound queue: beyond the workers and the queue depth, 429', async (t) => {
  const { call } = await simulator(t, { workers: 1, queueDepth: 1, faults: { slowMs: 200 } });
  const statuses = await Promise.all([0, 1, 2].map(() => call('/api/now/table/incident?sysparm_limit=1').then((r) => r.status)));
  assert.deepEqual(statuses.sort(), [200, 200, 429]);
});

test('faults: RST, 503 bursts, truncated bodies and refusal windows, set at runtime through the admin endpoint', async (t) => {
  const { sim, call } = await simulator(t);
  const admin = async (method: 'PUT' | 'POST', path: string, body: unknown) => {
    const res = await request(`${sim.adminUrl}${path}`, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
  };
  assert.equal((await admin('PUT', '/faults', { rstRate: 1 })).status, 200);
  await assert.rejects(call('/api/now/table/incident?sysparm_limit=1'), (err: Error & { code?: string }) => err.code === 'ECONNRESET' || err.code === 'UND_ERR_SOCKET');
  await admin('PUT', '/faults', { status: { code: 503, count: 2, period: 3 } });
  const burst = [];
  for (let i = 0; i < 3; i++) burst.push((await call('/api/now/table/incident?sysparm_limit=1')).status);
  assert.deepEqual(burst, [503, 503, 200]);
  await admin('PUT', '/faults', { truncateRate: 1 });
  await assert.rejects(call('/api/now/table/incident?sysparm_limit=5'));
  assert.equal(sim.stats().truncated, 1);
  await admin('PUT', '/faults', {});
  assert.equal((await admin('PUT', '/faults', { rstRate: 2 })).status, 400, 'bad faults are refused, naming the field');
  await admin('POST', '/refuse', { ms: 300 });
  await assert.rejects(request(`${sim.url}/api/now/table/incident`, { headers: { authorization: BASIC } }), (err: Error & { code?: string }) => err.code === 'ECONNREFUSED');
});

test('Keep-Alive: timeout=20 is advertised by default', async (t) => {
  const { call } = await simulator(t);
  assert.equal((await call('/api/now/table/incident?sysparm_limit=1')).headers['keep-alive'], 'timeout=20');
});

test('regression: close() during a refusal window leaves no timer behind (a 60 s window kept the test process alive for 60 s)', { timeout: 5000 }, async () => {
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const sim = await ServiceNowSimulator.start({ records: 10 });
  const before = timers();
  const window = sim.refuseFor(60_000);
  await sim.close();
  await window;
  assert.ok(timers() < before + 1, `timers: ${before} before the window, ${timers()} after close`);
});

test('429 bursts carry Retry-After: 1; the stats keep the peak rate and the peak in flight', async (t) => {
  const { sim, call } = await simulator(t, { faults: { status: { code: 429, count: 1, period: 2 } } });
  const first = await call('/api/now/table/incident?sysparm_limit=1');
  assert.equal(first.status, 429);
  assert.equal(first.headers['retry-after'], '1');
  assert.equal((await call('/api/now/table/incident?sysparm_limit=1')).status, 200);
  await Promise.all([1, 2, 3].map(() => call('/api/now/table/incident?sysparm_limit=1')));
  const stats = sim.stats();
  assert.ok(stats.peakRequestsPerSecond >= 2 && stats.peakRequestsPerSecond <= 5, `peak per second ${stats.peakRequestsPerSecond}`);
  assert.ok(stats.peakInFlight >= 1 && stats.peakInFlight <= 3, `peak in flight ${stats.peakInFlight}`);
});

test('regression (issue 17): HEAD is GET without a body, on a record and on a list; it never deletes', async (t) => {
  const { sim, call } = await simulator(t);
  const incidents = sim.data.table('incident')!;
  const record = incidents.byUpdated()[0]!;
  const head = await call(`/api/now/table/incident/${record.sys_id}`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.text, '');
  assert.ok(incidents.get(record.sys_id!) !== undefined, 'the record is still there');
  const list = await call('/api/now/table/incident?sysparm_limit=5', { method: 'HEAD' });
  assert.equal(list.status, 200);
  assert.equal(list.headers['x-total-count'], String(incidents.size));
  assert.equal((await call('/api/now/table/incident/0123456789abcdef0123456789abcdef', { method: 'HEAD' })).status, 404);
});

test('regression (issue 17): DELETE with Content-Type: application/json and no body deletes, as ServiceNow\'s docs and servicenow-rest-api send it', async (t) => {
  const { sim, call } = await simulator(t);
  const incidents = sim.data.table('incident')!;
  const record = incidents.byUpdated()[0]!;
  const deleted = await call(`/api/now/table/incident/${record.sys_id}`, { method: 'DELETE', headers: { 'content-type': 'application/json', accept: 'application/json' } });
  assert.equal(deleted.status, 204);
  assert.equal(incidents.get(record.sys_id!), undefined);
});

test('regression (issue 17): sysparm_input_display_value=true stores a group by name as its sys_id and a state label as its code; name=value filters take display values', async (t) => {
  const { sim, call } = await simulator(t);
  const json = { 'content-type': 'application/json' };
  const group = sim.data.table('sys_user_group')!.byUpdated()[0]!;
  const created = await call('/api/now/table/incident?sysparm_input_display_value=true&sysparm_exclude_reference_link=true', { method: 'POST', headers: json, body: JSON.stringify({ short_description: 'by display value', assignment_group: group.name, state: 'In Progress' }) });
  const record = created.json().result as Record<string, string>;
  assert.deepEqual([record.assignment_group, record.state], [group.sys_id, '2']);
  const updated = await call(`/api/now/table/incident/${record.sys_id}?sysparm_input_display_value=true`, { method: 'PATCH', headers: json, body: '{"state":"Closed"}' });
  assert.deepEqual([(updated.json().result as Record<string, string>).state, (updated.json().result as Record<string, string>).active], ['7', 'false']);
  const raw = await call('/api/now/table/incident', { method: 'POST', headers: json, body: '{"state":"In Progress"}' });
  assert.equal((raw.json().result as Record<string, string>).state, 'In Progress', 'without the flag a value is stored as given');

  const closed = sim.data.table('incident')!.byUpdated().filter((r) => r.state === '7').length;
  assert.equal(result((await call('/api/now/table/incident?state=Closed&sysparm_limit=100000')).json()).length, closed);
  assert.equal(result((await call('/api/now/table/incident?state=7&sysparm_limit=100000')).json()).length, closed);
  const inGroup = sim.data.table('incident')!.byUpdated().filter((r) => r.assignment_group === group.sys_id).length;
  assert.equal(result((await call(`/api/now/table/incident?assignment_group=${encodeURIComponent(group.name!)}&sysparm_limit=100000`)).json()).length, inGroup);
});

test('regression (issue 17): change_request, journal fields, severity and defaults on insert', async (t) => {
  const { call } = await simulator(t, { users: [{ user_name: 'admin', password: 'admin', readOnly: false }] });
  const json = { 'content-type': 'application/json' };
  const change = await call('/api/now/table/change_request', { method: 'POST', headers: json, body: JSON.stringify({ short_description: 'Patch the routers', work_notes: 'planned for Sunday' }) });
  assert.equal(change.status, 201);
  const chg = change.json().result as Record<string, string>;
  assert.match(chg.number!, /^CHG\d{7}$/);
  assert.deepEqual([chg.state, chg.type, chg.risk, chg.active, chg.priority], ['-5', 'normal', '3', 'true', '5']);
  assert.equal(chg.work_notes, '', 'a journal field reads as "" by value');
  await call(`/api/now/table/change_request/${chg.sys_id}`, { method: 'PATCH', headers: json, body: '{"work_notes":"moved to Monday","comments":"FYI"}' });
  const shown = (await call(`/api/now/table/change_request/${chg.sys_id}?sysparm_display_value=true&sysparm_fields=work_notes,comments`)).json().result as Record<string, string>;
  assert.match(shown.work_notes!, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d - admin \(Work notes\)\nmoved to Monday\n\n.* - admin \(Work notes\)\nplanned for Sunday\n\n$/s);
  assert.match(shown.comments!, /\(Additional comments\)\nFYI/);
  const entries = result((await call(`/api/now/table/sys_journal_field?sysparm_query=element_id=${chg.sys_id}`)).json());
  assert.equal(entries.length, 3);

  const inc = (await call('/api/now/table/incident', { method: 'POST', headers: json, body: '{"short_description":"defaults"}' })).json().result as Record<string, string>;
  assert.deepEqual([inc.state, inc.priority, inc.severity, inc.impact, inc.urgency, inc.active], ['1', '5', '3', '3', '3', 'true']);
});

test('regression (issue 17): extra tables and u_* fields from the config, with sys_dictionary rows; a bad declaration is named', async (t) => {
  const { call } = await simulator(t, {
    schema: {
      fields: { incident: { u_vendor_ticket: 'string', u_site: { type: 'reference', reference: 'u_site' } } },
      tables: [{ name: 'u_site', displayField: 'u_name', fields: { u_name: 'string', u_code: 'string' } }],
    },
  });
  const json = { 'content-type': 'application/json' };
  const site = (await call('/api/now/table/u_site', { method: 'POST', headers: json, body: '{"u_name":"Zurich","u_code":"ZRH"}' })).json().result as Record<string, string>;
  const inc = (await call('/api/now/table/incident?sysparm_input_display_value=true&sysparm_exclude_reference_link=true', { method: 'POST', headers: json, body: '{"u_vendor_ticket":"V-1","u_site":"Zurich"}' })).json().result as Record<string, string>;
  assert.deepEqual([inc.u_vendor_ticket, inc.u_site], ['V-1', site.sys_id]);
  const dictionary = result((await call('/api/now/table/sys_dictionary?sysparm_query=name=incident^elementSTARTSWITHu_^ORDERBYelement')).json());
  assert.deepEqual(dictionary.map((r) => [r.element, r.internal_type, r.reference]), [['u_site', 'reference', 'u_site'], ['u_vendor_ticket', 'string', '']]);
  assert.equal(result((await call('/api/now/table/sys_dictionary?sysparm_query=name=u_site^element=')).json())[0]?.internal_type, 'collection');

  assert.throws(() => resolveSimulatorOptions({ schema: { fields: { incident: { vendor: 'string' } } } }), /schema\.fields\.incident\.vendor: a custom field is named u_/);
  await assert.rejects(ServiceNowSimulator.start({ schema: { fields: { nope: { u_x: 'string' } } } }), /invalid option schema\.fields\.nope: unknown table nope/);
});

test('regression (issue 17): --tls serves HTTPS with a generated certificate that verifies for 127.0.0.1 and localhost', async (t) => {
  const sim = await ServiceNowSimulator.start({ records: 20, tls: true });
  t.after(() => sim.close());
  assert.match(sim.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  assert.match(sim.certificate!, /^-----BEGIN CERTIFICATE-----/);
  const agent = new Agent({ connect: { ca: sim.certificate } });
  t.after(() => agent.close());
  for (const url of [sim.url, sim.url.replace('127.0.0.1', 'localhost')]) {
    const res = await request(`${url}/api/now/table/incident?sysparm_limit=1`, { dispatcher: agent, headers: { authorization: BASIC } });
    assert.equal(res.statusCode, 200, url);
    assert.equal(((await res.body.json()) as { result: unknown[] }).result.length, 1);
  }
  const untrusted = new Agent();
  t.after(() => untrusted.close());
  await assert.rejects(request(`${sim.url}/api/now/table/incident`, { dispatcher: untrusted }), /self-signed|SELF_SIGNED/i);
});

test('regression (issue 17): the Aggregate API: count, group-by (raw and display), sum/avg/min/max and having, as the instance shapes them', async (t) => {
  const { sim, call } = await simulator(t);
  const incidents = sim.data.table('incident')!.byUpdated();
  const active = incidents.filter((r) => r.active === 'true');
  const total = (await call('/api/now/stats/incident?sysparm_count=true&sysparm_query=active=true')).json();
  assert.deepEqual(total, { result: { stats: { count: String(active.length) } } });

  const byState = (await call('/api/now/stats/incident?sysparm_count=true&sysparm_group_by=state&sysparm_sum_fields=priority&sysparm_min_fields=priority')).json().result as { stats: { count: string; sum: { priority: string }; min: { priority: string } }; groupby_fields: { field: string; value: string }[] }[];
  for (const { stats, groupby_fields: [by] } of byState) {
    const rows = incidents.filter((r) => r.state === by!.value);
    assert.equal(by!.field, 'state');
    assert.equal(stats.count, String(rows.length));
    assert.equal(stats.sum.priority, String(rows.reduce((a, r) => a + Number(r.priority), 0)));
    assert.equal(stats.min.priority, rows.map((r) => r.priority!).sort()[0]);
  }
  assert.equal(byState.reduce((a, g) => a + Number(g.stats.count), 0), incidents.length);

  const named = (await call('/api/now/stats/incident?sysparm_count=true&sysparm_group_by=state&sysparm_display_value=true&state=Closed')).json().result as { groupby_fields: { value: string }[] }[];
  assert.deepEqual(named.map((g) => g.groupby_fields[0]!.value), ['Closed']);
  const big = (await call('/api/now/stats/incident?sysparm_count=true&sysparm_group_by=assignment_group&sysparm_having=count^assignment_group^>^5')).json().result as { stats: { count: string } }[];
  assert.ok(big.every((g) => Number(g.stats.count) > 5));
  // An empty value is no number: hold_reason is set on held incidents only, and the average is theirs.
  const reasons = incidents.map((r) => r.hold_reason!).filter((v) => v !== '').map(Number);
  const avg = (await call('/api/now/stats/incident?sysparm_avg_fields=hold_reason')).json() as { result: { stats: { avg: { hold_reason: string } } } };
  assert.ok(reasons.length > 0 && reasons.length < incidents.length);
  assert.equal(Number(avg.result.stats.avg.hold_reason), reasons.reduce((a, b) => a + b, 0) / reasons.length);
  assert.equal((await call('/api/now/stats/incident?sysparm_sum_fields=nope')).status, 400);
  assert.equal((await call('/api/now/stats/nope?sysparm_count=true')).status, 400);
});

test('regression (issue 17): the Attachment API: upload as bytes and as multipart, metadata, download, list and delete', async (t) => {
  const { sim, call } = await simulator(t);
  const record = sim.data.table('incident')!.byUpdated()[0]!;
  const bytes = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 1, 2, 255]);
  const res = await request(`${sim.url}/api/now/attachment/file?table_name=incident&table_sys_id=${record.sys_id}&file_name=shot.png`, { method: 'POST', headers: { authorization: BASIC, 'content-type': 'image/png' }, body: bytes });
  assert.equal(res.statusCode, 201);
  const meta = ((await res.body.json()) as { result: Record<string, string> }).result;
  assert.deepEqual([meta.file_name, meta.table_name, meta.table_sys_id, meta.content_type, meta.size_bytes], ['shot.png', 'incident', record.sys_id, 'image/png', '8']);
  assert.equal(meta.download_link, `${sim.url}/api/now/attachment/${meta.sys_id}/file`);
  assert.equal(res.headers.location, `${sim.url}/api/now/attachment/${meta.sys_id}`);

  const download = await request(meta.download_link!, { headers: { authorization: BASIC } });
  assert.equal(download.headers['content-type'], 'image/png');
  assert.deepEqual(Buffer.from(await download.body.arrayBuffer()), bytes);

  const form = new FormData();
  form.set('table_name', 'incident');
  form.set('table_sys_id', record.sys_id!);
  form.set('uploadFile', new Blob(['hello'], { type: 'text/plain' }), 'note.txt');
  const upload = await fetch(`${sim.url}/api/now/attachment/upload`, { method: 'POST', headers: { authorization: BASIC }, body: form });
  assert.equal(upload.status, 201);
  const note = ((await upload.json()) as { result: Record<string, string> }).result;
  assert.deepEqual([note.file_name, note.content_type, note.size_bytes], ['note.txt', 'text/plain', '5']);

  const listed = result((await call(`/api/now/attachment?sysparm_query=table_sys_id=${record.sys_id}`)).json());
  assert.deepEqual(listed.map((r) => r.file_name).sort(), ['note.txt', 'shot.png']);
  assert.deepEqual(result((await call(`/api/now/attachment?table_sys_id=${record.sys_id}`)).json()).length, 2, 'name=value pairs too');
  assert.equal((await call(`/api/now/attachment/${meta.sys_id}`, { method: 'DELETE' })).status, 204);
  assert.equal((await call(`/api/now/attachment/${meta.sys_id}`)).status, 404);
  assert.equal((await call('/api/now/attachment/file?table_name=incident&table_sys_id=nope&file_name=a', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' })).status, 400);
});

test('regression (issue 17): what is not simulated (the UI login that now-sdk uses for Basic) answers 501 with its name', async (t) => {
  const { call } = await simulator(t);
  const login = await call('/login.do', { method: 'POST' });
  assert.equal(login.status, 501);
  assert.match(String((login.json().error as { message: string }).message), /Not simulated: \/login\.do/);
});
