/// <reference lib="dom" />
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { Mirror } from '../src/servicenow/mirror.js';
import { hashPassword, LOOPBACK_HOSTS, type AccessOptions } from '../src/servicenow/web/access.js';
import { buildWebApp } from '../src/servicenow/web/app.js';
import { ServiceNowSimulator } from '../src/simulate/servicenow/servicenow-simulator.js';
import { chromiumOrSkip } from '../../../test/support/browser.js';
import { nextCycle } from '../../../test/support/servicenow-helpers.js';

const TOKEN = 'a-token-of-at-least-16-chars';
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** A mirror after its first load, no cycle or heartbeat due for the test's length, behind the web app. */
async function setup(t: TestContext, access?: AccessOptions) {
  const sim = await ServiceNowSimulator.start({ records: 300 });
  t.after(() => sim.close());
  const mirror = new Mirror({ instance: sim.url, auth: { type: 'basic', user: 'admin', password: 'admin' }, intervalS: 3600, heartbeatS: 3600, warmPauseMs: 0, requestsPerSecond: 200 });
  t.after(() => mirror.close());
  const app = buildWebApp(mirror, access === undefined ? {} : { access });
  t.after(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as AddressInfo).port;
  const loaded = nextCycle(mirror, 'complete');
  await mirror.start();
  await loaded;
  const call = async (path: string, headers: Record<string, string> = {}, method: 'GET' | 'POST' = 'GET') => {
    const res = await request(`http://127.0.0.1:${port}${path}`, { method, headers });
    await res.body.dump();
    return { status: res.statusCode, headers: res.headers };
  };
  return { sim, port, call };
}

test('access: bearer tokens and basic users; /health and /ready stay open; a challenge names the scheme', async (t) => {
  const { call } = await setup(t, { tokens: [TOKEN], users: new Map([['alice', hashPassword('alice-password')]]), allowedHosts: [...LOOPBACK_HOSTS] });
  const denied = await call('/api/summary');
  assert.equal(denied.status, 401);
  assert.match(String(denied.headers['www-authenticate']), /^Basic realm="holdfast"/);
  for (const path of ['/dashboard', '/metrics', '/api/events', '/api/groups/-/incident']) {
    assert.equal((await call(path)).status, 401, path);
  }
  assert.equal((await call('/api/summary', { authorization: 'Bearer wrong-token-of-some-length' })).status, 401);
  assert.equal((await call('/api/summary', { authorization: basic('alice', 'wrong') })).status, 401);
  assert.equal((await call('/api/summary', { authorization: `Bearer ${TOKEN}` })).status, 200);
  assert.equal((await call('/dashboard', { authorization: basic('alice', 'alice-password') })).status, 200);
  assert.equal((await call('/health')).status, 200);
  assert.equal((await call('/ready')).status, 200);
});

test('access: a foreign Host, a cross-origin POST and a POST relayed by a reverse proxy on this host are refused, and the instance sees none', async (t) => {
  const { sim, call } = await setup(t);
  const before = sim.stats().requests;
  assert.equal((await call('/api/summary', { host: 'rebind.example:80' })).status, 403);
  assert.equal((await call('/api/summary', { host: 'localhost:1234' })).status, 200);
  assert.equal((await call('/api/sync/incident', { origin: 'http://attacker.example' }, 'POST')).status, 403);
  assert.equal((await call('/api/sync/incident', { 'sec-fetch-site': 'cross-site' }, 'POST')).status, 403);
  assert.equal((await call('/api/sync/incident', { 'x-forwarded-for': '203.0.113.9' }, 'POST')).status, 403, 'a client of a proxy on this host is not a loopback client');
  assert.equal(sim.stats().requests, before, 'no request reached the instance');
  assert.equal((await call('/api/sync/incident', {}, 'POST')).status, 200, 'curl on this host still may');
});

test('regression (issue 17): in chromium, a page on a foreign host name (DNS rebinding) and a cross-site page cannot read or trigger anything', { timeout: 120_000 }, async (t) => {
  // Both names resolve to loopback, as a rebinding attacker's DNS would make them.
  const browser = await chromiumOrSkip(t, ['--host-resolver-rules=MAP rebind.test 127.0.0.1, MAP attacker.test 127.0.0.1']);
  if (browser === undefined) return;
  t.after(() => browser.close());
  const { sim, port } = await setup(t);

  // The attacker's own page: it reads the mirror's API and posts to its sync route 10 times.
  const attacker = createServer((_req, res) => {
    res.setHeader('content-type', 'text/html');
    res.end(`<!doctype html><body><form id="f" method="POST" action="http://127.0.0.1:${port}/api/sync/incident" target="sink"></form><iframe name="sink"></iframe><script>
      window.done = (async () => {
        for (let i = 0; i < 10; i++) await fetch('http://127.0.0.1:${port}/api/sync/incident', { method: 'POST', mode: 'no-cors' }).catch(() => {});
        document.getElementById('f').submit();
        return 'sent';
      })();
    </script></body>`);
  });
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => attacker.close(() => resolve())));
  const attackerPort = (attacker.address() as AddressInfo).port;

  const page = await browser.newPage();
  const rebound = await page.goto(`http://rebind.test:${port}/api/summary`);
  assert.equal(rebound?.status(), 403, 'the rebound name is refused');
  assert.doesNotMatch(await page.content(), /"groups"/, 'no data on the page');

  const before = sim.stats().requests;
  const posts: number[] = [];
  page.on('response', (res) => { if (res.url().includes('/api/sync/')) posts.push(res.status()); });
  await page.goto(`http://attacker.test:${attackerPort}/`);
  assert.equal(await page.evaluate(() => (window as unknown as { done: Promise<string> }).done), 'sent');
  await page.waitForEvent('response', { predicate: (res) => res.request().method() === 'POST' && res.url().includes('/api/sync/') && res.request().resourceType() === 'document' });
  assert.ok(posts.length >= 11 && posts.every((s) => s === 403), `every cross-site POST refused: ${posts.join(',')}`);
  assert.equal(sim.stats().requests, before, 'no request reached the instance');
});
