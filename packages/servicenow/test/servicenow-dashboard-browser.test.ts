/// <reference lib="dom" />
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { Mirror } from '../src/servicenow/mirror.js';
import { buildWebApp } from '../src/servicenow/web/app.js';
import { ServiceNowSimulator } from '../src/simulate/servicenow/servicenow-simulator.js';
import { chromiumOrSkip, TEST_OUTPUT } from '../../../test/support/browser.js';
import { nextCycle } from '../../../test/support/servicenow-helpers.js';

const XSS = '<img src=x onerror=alert(1)>';

/** Waiting work per group, computed from the simulator's data by the definition (not the mirror's code). */
function expectedTotals(sim: ServiceNowSimulator): Map<string, number> {
  const totals = new Map<string, number>();
  const waits: Record<string, (r: Record<string, string>) => boolean> = {
    incident: (r) => r.active === 'true' && r.state === '3',
    change_task: (r) => r.active === 'true' && (r.state === '-5' || r.on_hold === 'true'),
    sc_task: (r) => r.active === 'true' && r.state === '-5',
  };
  for (const [table, waiting] of Object.entries(waits)) {
    for (const r of sim.data.table(table)!.byUpdated()) if (waiting(r)) totals.set(r.assignment_group!, (totals.get(r.assignment_group!) ?? 0) + 1);
  }
  return totals;
}

test('the dashboard in a real browser: counts match the instance, live updates, XSS shows as text, the instance going down shows the banner', { timeout: 120_000 }, async (t) => {
  const browser = await chromiumOrSkip(t);
  if (browser === undefined) return;
  t.after(() => browser.close());
  const sim = await ServiceNowSimulator.start({ records: 800 });
  t.after(() => sim.close());
  const incidents = sim.data.table('incident')!;
  const group = incidents.byUpdated().find((r) => r.assignment_group !== '')!.assignment_group!;
  const xss = sim.data.create(incidents, { short_description: XSS, state: '3', incident_state: '3', hold_reason: '1', assignment_group: group, priority: '3' }, 'admin');

  const mirror = new Mirror({ instance: sim.url, auth: { type: 'basic', user: 'admin', password: 'admin' }, intervalS: 1, warmPauseMs: 0, requestsPerSecond: 200, heartbeatS: 1 });
  t.after(() => mirror.close());
  const app = buildWebApp(mirror);
  t.after(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const loaded = nextCycle(mirror, 'complete');
  await mirror.start();
  await loaded;

  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const dialogs: string[] = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${base}/dashboard`);
  await page.waitForSelector('#group-table tbody tr[data-group]');
  await page.waitForFunction(() => document.querySelector('#live')?.textContent === 'live');
  await page.screenshot({ path: new URL('dashboard-loaded.png', TEST_OUTPUT).pathname, fullPage: true });

  // Counts: every group's total on the page equals the instance's waiting work.
  const shown = new Map(await page.$$eval('#group-table tbody tr[data-group]', (rows) => rows.map((row) => [row.getAttribute('data-group')!, Number(row.querySelector('td.total')!.textContent)] as [string, number])));
  assert.deepEqual(shown, expectedTotals(sim));

  // A live update: one more incident goes On Hold in the group; the page follows without a reload.
  const before = shown.get(group)!;
  sim.data.create(incidents, { short_description: 'Waiting for the vendor', state: '3', incident_state: '3', hold_reason: '4', assignment_group: group, priority: '3' }, 'admin');
  await page.waitForFunction(([g, n]) => document.querySelector(`tr[data-group="${g}"] td.total`)?.textContent === String(n), [group, before + 1] as const, { timeout: 30_000 });

  // The XSS payload is text in the drill-down list, and nothing ran.
  await page.click(`tr[data-group="${group}"] button[data-table="incident"][data-bucket="Awaiting Caller"]`);
  const row = page.locator(`#drill-table tr[data-sys-id="${xss.sys_id}"]`);
  await row.waitFor();
  assert.equal(await row.locator('td.desc').textContent(), XSS);
  assert.equal(await page.locator('#drill img').count(), 0);
  const link = await row.locator('a').getAttribute('href');
  assert.ok(link?.startsWith(`${sim.url}/nav_to.do?uri=`), link ?? 'no link');
  await page.screenshot({ path: new URL('dashboard-drill-down.png', TEST_OUTPUT).pathname, fullPage: true });

  // The instance goes away: the banner says since when the data is, and pages are still served.
  await page.waitForFunction(() => document.querySelector('#banner')?.hasAttribute('hidden') === true);
  void sim.refuseFor(60_000);
  await page.waitForSelector('#banner:not([hidden])', { timeout: 60_000 });
  assert.match(await page.locator('#banner').textContent() ?? '', /unreachable.*Data as of/s);
  await page.reload();
  await page.waitForSelector('#banner:not([hidden])');
  assert.equal(await page.locator('#group-table tbody tr[data-group]').count(), shown.size);
  await page.screenshot({ path: new URL('dashboard-instance-down.png', TEST_OUTPUT).pathname, fullPage: true });
  assert.deepEqual(dialogs, []);
  assert.deepEqual(errors, []);
});
