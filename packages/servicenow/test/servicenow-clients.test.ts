import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, request } from 'undici';
import { ServiceNowSimulator } from '../src/simulate/servicenow/servicenow-simulator.js';

/**
 * ServiceNow clients from npm, unmodified, against the simulator over HTTPS (issue 17). Each
 * runs in its own process, trusting the simulator's generated certificate through
 * NODE_EXTRA_CA_CERTS, as a user would. The clients live in packages/servicenow/test/clients (their own
 * package.json and lock, installed by .ci/run); without them the tests skip with a notice.
 */
const CLIENTS = fileURLToPath(new URL('./clients/', import.meta.url));
const BASIC = `Basic ${Buffer.from('admin:admin').toString('base64')}`;

function clientsOrSkip(t: TestContext): boolean {
  if (existsSync(join(CLIENTS, 'node_modules', 'servicenow-rest-api'))) return true;
  const message = 'needs the ServiceNow client packages (install them: npm ci --prefix packages/servicenow/test/clients)';
  if (process.env.HOLDFAST_REQUIRE_ALL === '1') throw new Error(`${message}; HOLDFAST_REQUIRE_ALL=1 makes this a failure`);
  t.skip(message);
  return false;
}

async function tlsSimulator(t: TestContext) {
  const sim = await ServiceNowSimulator.start({ records: 200, tls: true });
  t.after(() => sim.close());
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-clients-'));
  const ca = join(dir, 'simulator.pem');
  writeFileSync(ca, sim.certificate!);
  const agent = new Agent({ connect: { ca: sim.certificate } });
  t.after(() => agent.close());
  const get = async (path: string) => {
    const res = await request(`${sim.url}${path}`, { dispatcher: agent, headers: { authorization: BASIC, accept: 'application/json' } });
    return (await res.body.json()) as { result: unknown };
  };
  const group = sim.data.table('sys_user_group')!.byUpdated().find((g) => g.active === 'true')!;
  return { sim, ca, get, group };
}

/** Runs a client script or binary with Node; resolves with its stdout, rejects with its stderr. */
function run(args: string[], env: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: CLIENTS, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString(); });
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${args.join(' ')} exited ${code}:\n${err.slice(-4000)}`))));
  });
}

test('servicenow-rest-api, unmodified, over TLS: create and update with display values, read by display value, delete; the Aggregate API counts them', { timeout: 60_000 }, async (t) => {
  if (!clientsOrSkip(t)) return;
  const { sim, ca, get, group } = await tlsSimulator(t);
  const incidents = sim.data.table('incident')!;
  const before = ((await get('/api/now/stats/incident?sysparm_count=true')).result as { stats: { count: string } }).stats.count;
  const out = await run(['servicenow-rest-api.cjs'], { NODE_EXTRA_CA_CERTS: ca, SN_HOST: new URL(sim.url).host, SN_USER: 'admin', SN_PASSWORD: 'admin', SN_GROUP: group.name! });
  type Row = Record<string, unknown>;
  const { created, read, updated, deleted } = JSON.parse(out) as { created: Row; read: Row[]; updated: Row; deleted: number };
  // The library asks for display values back: a group by its name, a state by its label.
  assert.equal((created.assignment_group as { display_value: string }).display_value, group.name);
  assert.equal(created.state, 'In Progress');
  assert.equal(created.urgency, '1 - High');
  assert.equal(read.length, 1);
  assert.deepEqual([read[0]!.state, (read[0]!.assignment_group as { display_value: string }).display_value], ['In Progress', group.name]);
  assert.deepEqual([updated.state, updated.hold_reason], ['On Hold', 'Awaiting Vendor']);
  assert.equal(deleted, 204);
  assert.equal(incidents.byUpdated().find((r) => r.number === created.number), undefined, 'deleted on the instance');
  const audit = (await get(`/api/now/table/sys_audit_delete?sysparm_query=tablename=incident^display_value=${String(created.number)}`)).result as unknown[];
  assert.equal(audit.length, 1);
  assert.equal(((await get('/api/now/stats/incident?sysparm_count=true')).result as { stats: { count: string } }).stats.count, before);
});

test('the Backstage ServiceNow scaffolder actions, unmodified, over TLS: create, retrieve, modify, list and delete a record', { timeout: 60_000 }, async (t) => {
  if (!clientsOrSkip(t)) return;
  const { sim, ca, group } = await tlsSimulator(t);
  const out = await run(['backstage-scaffolder.cjs'], { NODE_EXTRA_CA_CERTS: ca, SN_URL: sim.url, SN_USER: 'admin', SN_PASSWORD: 'admin', SN_GROUP: group.name! });
  type Row = Record<string, string>;
  const { created, read, modified, listed } = JSON.parse(out) as { created: Row; read: Row; modified: Row; listed: Row[] };
  assert.deepEqual([created.assignment_group, created.state], [group.sys_id, '2'], 'display values in, stored values out');
  assert.deepEqual([read.state, read.assignment_group], ['In Progress', group.name]);
  assert.equal(modified.state, '6');
  assert.deepEqual(listed, [{ number: created.number, state: '6' }]);
  assert.equal(sim.data.table('incident')!.get(created.sys_id!), undefined, 'deleted');
});

test('now-sdk query with a bearer token, unmodified, over TLS: the records and the display values the instance would give', { timeout: 60_000 }, async (t) => {
  if (!clientsOrSkip(t)) return;
  const { sim, ca, group } = await tlsSimulator(t);
  // undici's own request with undici's Agent: Node 22's global fetch (undici 6) cannot drive undici 8's dispatchers.
  const agent = new Agent({ connect: { ca: sim.certificate } });
  t.after(() => agent.close());
  const grant = await request(`${sim.url}/oauth_token.do`, {
    method: 'POST', dispatcher: agent, headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'holdfast', client_secret: 'holdfast' }).toString(),
  });
  const token = ((await grant.body.json()) as { access_token: string }).access_token;
  const query = `assignment_group=${group.sys_id}^ORDERBYnumber`;
  const out = await run([join(CLIENTS, 'node_modules/@servicenow/sdk/bin/index.js'), 'query', 'incident', '--query', query, '--fields', 'number,state,assignment_group', '--display-value', 'true', '--limit', '500', '--output', 'json'], {
    NODE_EXTRA_CA_CERTS: ca, SN_SDK_INSTANCE_URL: sim.url, SN_SDK_SESSION_BEARER_TOKEN: token,
  });
  const answer = JSON.parse(out.slice(out.indexOf('{'))) as { ok: boolean; records: Record<string, string>[] };
  assert.equal(answer.ok, true);
  const expected = sim.data.table('incident')!.byUpdated().filter((r) => r.assignment_group === group.sys_id);
  assert.equal(answer.records.length, expected.length);
  assert.ok(answer.records.every((r) => r.assignment_group === group.name), 'display values');
});
