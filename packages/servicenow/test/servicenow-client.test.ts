import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createDispatcher } from 'holdfast/internal/client/create-dispatcher.js';
import { BasicAuth, DEFAULT_SIGN_IN_HOLD_OFF_MS, OAuthAuth } from '../src/servicenow/auth.js';
import { keysetPages } from '../src/servicenow/keyset-pager.js';
import { TableClient } from '../src/servicenow/table-client.js';
import { ServiceNowSimulator } from '../src/simulate/servicenow/servicenow-simulator.js';
import type { SimulatorOptions } from '../src/simulate/servicenow/options.js';
import { FakeClock } from '../../../test/support/fake-clock.js';

async function setup(t: TestContext, options: SimulatorOptions = {}) {
  const sim = await ServiceNowSimulator.start({ records: 200, ...options });
  const dispatcher = createDispatcher({ retry: { statuses: [429, 500, 503] } });
  t.after(async () => { await dispatcher.destroy(); await sim.close(); });
  return { sim, dispatcher };
}

test('keyset paging: every record once, in order, including a second shared by more than a page of records', async (t) => {
  const { sim, dispatcher } = await setup(t);
  const incidents = sim.data.table('incident')!;
  // 25 records updated in one second, with pages of 10: >= cannot move past that second.
  const crowd = incidents.byUpdated().slice(0, 25);
  for (const r of crowd) incidents.update(r, { sys_updated_on: '2030-01-01 00:00:00' });
  const client = new TableClient({ instance: sim.url, auth: new BasicAuth('admin', 'admin'), dispatcher });
  const seen: string[] = [];
  for await (const page of keysetPages(client, 'incident', { fields: ['sys_id', 'sys_updated_on'], pageSize: 10 })) {
    for (const r of page.records) seen.push(`${r.sys_updated_on} ${r.sys_id}`);
  }
  assert.equal(new Set(seen).size, seen.length, 'no record twice');
  assert.equal(seen.length, incidents.size, 'no record missed');
  assert.deepEqual(seen, [...seen].sort(), 'in (sys_updated_on, sys_id) order');
});

test('a 200 whose body is cut off with an error appended (the transaction quota) is retried, and gives up as a coded error', async (t) => {
  const { sim, dispatcher } = await setup(t, { maxTransactionMs: 30, rowCostUs: 2000 });
  const clock = new FakeClock({ autoAdvance: true });
  const client = new TableClient({ instance: sim.url, auth: new BasicAuth('admin', 'admin'), dispatcher, clock, attempts: 3 });
  await assert.rejects(client.list('incident', { limit: 100 }), (err: Error & { code?: string; retryable?: boolean }) => err.code === 'HF_ERR_SERVICENOW_RESPONSE' && err.retryable === true);
  assert.equal(client.requests, 3);
  assert.equal(sim.stats().cancelled, 3);
  assert.equal((await client.list('incident', { limit: 5 })).records.length, 5, 'a page that fits the quota succeeds');
});

test('OAuth: one password grant for concurrent callers, a refresh ahead of expiry, and a fresh token after a 401', async (t) => {
  const { sim, dispatcher } = await setup(t, { accessTokenTtlS: 120 });
  const clock = new FakeClock();
  const auth = new OAuthAuth(sim.url, { clientId: 'holdfast', clientSecret: 'holdfast', user: 'admin', password: 'admin' }, dispatcher, { clock, marginMs: 30_000 });
  const client = new TableClient({ instance: sim.url, auth, dispatcher });
  await Promise.all([client.list('incident', { limit: 1 }), client.list('incident', { limit: 1 }), client.list('incident', { limit: 1 })]);
  assert.deepEqual(auth.grants, { password: 1, refresh_token: 0 });
  clock.advance(91_000); // 120 s token, 30 s margin: renewed before it expires
  await client.list('incident', { limit: 1 });
  assert.deepEqual(auth.grants, { password: 1, refresh_token: 1 });
  sim.auth.revoke({ user: 'admin' });
  assert.equal((await client.list('incident', { limit: 1 })).records.length, 1, 'the 401 was answered with a new sign-in');
  assert.equal(auth.grants.password, 2, 'the revoked refresh token fell back to the password grant');
  assert.ok(!JSON.stringify(auth).includes('admin'), 'credentials never serialised');
});

test('regression (issue 17): a 503 from the OAuth token endpoint is retried, not a failed page', async (t) => {
  const { sim, dispatcher } = await setup(t, { faults: { status: { code: 503, count: 1, period: 1_000_000 } } });
  const auth = new OAuthAuth(sim.url, { clientId: 'holdfast', clientSecret: 'holdfast', user: 'admin', password: 'admin' }, dispatcher);
  const client = new TableClient({ instance: sim.url, auth, dispatcher });
  assert.equal((await client.list('incident', { limit: 1 })).records.length, 1);
  assert.equal(sim.stats().byStatus['503'], 1, 'the token request met the 503 and was sent again');
});

test('regression (issue 17): a wrong password is one failed sign-in, not one per request: no sign-in again until the hold-off passes', async (t) => {
  const { sim, dispatcher } = await setup(t);
  const clock = new FakeClock();
  const tries = async (client: TableClient) => {
    for (let i = 0; i < 3; i++) await assert.rejects(client.list('incident', { limit: 1 }), (err: Error & { code?: string }) => err.code === 'HF_ERR_SERVICENOW_AUTH');
  };
  const oauth = new OAuthAuth(sim.url, { clientId: 'holdfast', clientSecret: 'holdfast', user: 'admin', password: 'wrong' }, dispatcher, { clock });
  await tries(new TableClient({ instance: sim.url, auth: oauth, dispatcher, clock }));
  assert.equal(oauth.grants.password, 1, 'OAuth: one refused password grant');

  const basic = new BasicAuth('admin', 'wrong', { clock });
  await tries(new TableClient({ instance: sim.url, auth: basic, dispatcher, clock }));
  assert.equal(sim.stats().byStatus['401'], 1, 'Basic: one 401 from the Table API');

  clock.advance(DEFAULT_SIGN_IN_HOLD_OFF_MS);
  await assert.rejects(new TableClient({ instance: sim.url, auth: basic, dispatcher, clock }).list('incident', { limit: 1 }));
  assert.equal(sim.stats().byStatus['401'], 2, 'after the hold-off, one sign-in is tried again');
});
