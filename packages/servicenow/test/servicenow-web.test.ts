import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { Mirror } from '../src/servicenow/mirror.js';
import type { MirrorOptions } from '../src/servicenow/mirror-options.js';
import { buildWebApp } from '../src/servicenow/web/app.js';
import { ServiceNowSimulator } from '../src/simulate/servicenow/servicenow-simulator.js';
import { privateRedisOrSkip } from '../../../test/support/redis.js';
import { nextCycle } from '../../../test/support/servicenow-helpers.js';

async function setup(t: TestContext, extra: Partial<MirrorOptions> = {}) {
  const sim = await ServiceNowSimulator.start({ records: 400 });
  t.after(() => sim.close());
  const mirror = new Mirror({ instance: sim.url, auth: { type: 'basic', user: 'admin', password: 'admin' }, intervalS: 1, warmPauseMs: 0, requestsPerSecond: 200, ...extra });
  t.after(() => mirror.close());
  const app = buildWebApp(mirror);
  t.after(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const get = async (path: string, method: 'GET' | 'POST' = 'GET') => {
    const res = await request(`${base}${path}`, { method });
    const body = Buffer.from(await res.body.arrayBuffer());
    return { status: res.statusCode, headers: res.headers, body, json: () => JSON.parse(body.toString()) as Record<string, unknown> };
  };
  return { sim, mirror, base, get };
}

test('web routes: health, ready after warming, a real favicon, metrics, the JSON API and on-demand sync', { timeout: 60_000 }, async (t) => {
  const { mirror, get } = await setup(t);
  assert.equal((await get('/health')).status, 200);
  assert.equal((await get('/ready')).status, 503, 'not ready before the cache is warmed');
  const loaded = nextCycle(mirror, 'complete');
  await mirror.start();
  await loaded;
  assert.equal((await get('/ready')).status, 200);

  const icon = await get('/favicon.ico');
  assert.equal(icon.status, 200);
  assert.equal(icon.headers['content-type'], 'image/x-icon');
  assert.deepEqual([...icon.body.subarray(0, 4)], [0, 0, 1, 0], 'an ICO header');

  const metrics = (await get('/metrics')).body.toString();
  for (const name of ['holdfast_servicenow_sync_pages_total', 'holdfast_servicenow_upstream_requests_total', 'holdfast_servicenow_sync_lag_seconds', 'holdfast_servicenow_waiting_records', 'holdfast_client_requests_total']) {
    assert.match(metrics, new RegExp(`^${name}`, 'm'), name);
  }

  const page = await get('/dashboard');
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-security-policy']), /script-src 'self'/);
  const { summary } = (await get('/api/summary')).json() as { summary: { groups: { id: string; total: number }[] } };
  const group = summary.groups.find((g) => g.id !== '')!;
  const list = (await get(`/api/groups/${group.id}/incident`)).json() as { items: { number: string; url: string }[] };
  assert.ok(list.items.every((i) => i.number.startsWith('INC') && i.url.includes('nav_to.do')));
  assert.equal((await get('/api/groups/not-a-sys-id/incident')).status, 400);
  assert.equal((await get(`/api/groups/${group.id}/sys_user`)).status, 404);
  // Scheduled cycles run every second, and one running answers an on-demand sync with 409
  // (CI saw it once): ask right after a cycle completes, when none runs.
  await nextCycle(mirror, 'complete');
  assert.equal((await get('/api/sync/incident', 'POST')).status, 200);
  assert.equal((await get('/api/sync/nope', 'POST')).status, 404);
});

test('losing Redis for a while: pages keep serving the last good data with a clear status, nothing crashes, and it recovers', { timeout: 60_000 }, async (t) => {
  const redis = await privateRedisOrSkip(t);
  if (redis === undefined) return;
  const { mirror, get } = await setup(t, { redis: { url: redis.url, prefix: 'holdfast-test:degrade:' } });
  const loaded = nextCycle(mirror, 'complete');
  await mirror.start();
  await loaded;
  await mirror.refresh();
  const before = ((await get('/api/summary')).json() as { summary: unknown }).summary;

  const degraded = new Promise<void>((resolve) => mirror.on('update', () => { if (!mirror.status().store.ok) resolve(); }));
  await redis.kill();
  await degraded;
  for (const path of ['/health', '/dashboard', '/favicon.ico']) assert.equal((await get(path)).status, 200, path);
  const during = (await get('/api/summary')).json() as { summary: unknown; status: { store: { ok: boolean; error: string } } };
  assert.deepEqual(during.summary, before, 'the last good data');
  assert.equal(during.status.store.ok, false);

  const recovered = new Promise<void>((resolve) => mirror.on('update', () => { if (mirror.status().store.ok && mirror.summary().groups.length > 0) resolve(); }));
  await redis.restart(); // an empty Redis: the mirror loads it again
  await recovered;
  assert.equal(((await get('/api/summary')).json() as { status: { store: { ok: boolean } } }).status.store.ok, true);
});

test('regression (issue 17): a hung instance shows as stale within stallAfterS, not after the 90 s deadline', { timeout: 60_000 }, async (t) => {
  const { sim, mirror, get } = await setup(t, { stallAfterS: 2 });
  const loaded = nextCycle(mirror, 'complete');
  await mirror.start();
  await loaded;
  sim.faults.slowMs = 60_000; // the instance accepts requests and does not answer
  await new Promise<void>((resolve) => {
    const onUpdate = () => { if (mirror.status().upstream.stalled === true) { mirror.off('update', onUpdate); resolve(); } };
    mirror.on('update', onUpdate);
  });
  const { status } = (await get('/api/summary')).json() as { status: { upstream: { stalled: boolean; waitingS: number }; tables: Record<string, { inProgress: boolean }> } };
  assert.equal(status.upstream.stalled, true);
  assert.ok(status.upstream.waitingS >= 2 && status.upstream.waitingS < 10, `waiting ${status.upstream.waitingS} s`);
  assert.ok(Object.values(status.tables).some((s) => s.inProgress), 'the waiting table shows a sync in progress');
});
