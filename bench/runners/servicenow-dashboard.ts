/**
 * servicenow-dashboard: how fast the mirror serves /dashboard and the JSON API
 * (/api/summary) while sync cycles run. The simulator runs in its own process with
 * churn; the mirror syncs every second; autocannon, in a third process, loads one
 * route at a time. Reports requests per second and latency percentiles per route,
 * and the sync cycles and records applied during each window.
 *
 *   npm run bench:servicenow-dashboard
 *   options: --records N (default 20000) --churn N (writes/s, default 100)
 *            --connections N (default 20) --seconds N (per route, default 10) --json FILE
 */
import { writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { autocannon } from '../fixtures/autocannon.js';
import { Mirror } from '@holdfast/servicenow/internal/servicenow/mirror.js';
import { buildWebApp } from '@holdfast/servicenow/internal/servicenow/web/app.js';
import { startSimulatorProcess } from '../fixtures/simulator-process.js';

export interface RouteResult {
  route: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
  cyclesDuring: number;
  recordsAppliedDuring: number;
}

export async function runDashboard({ records, churn, connections, seconds }: { records: number; churn: number; connections: number; seconds: number }, progress: (line: string) => void = () => {}): Promise<RouteResult[]> {
  const sim = await startSimulatorProcess(['--records', String(records), '--churn', String(churn), '--seed', '7']);
  const mirror = new Mirror({ instance: sim.url, auth: { type: 'basic', user: 'admin', password: 'admin' }, intervalS: 1, requestsPerSecond: 50, warmPauseMs: 0 });
  const app = buildWebApp(mirror);
  let cycles = 0;
  let applied = 0;
  mirror.on('event', (e) => {
    if (e.type === 'cycle' && e.phase === 'complete') cycles++;
    if (e.type === 'page') applied += e.records;
  });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const first = new Promise<void>((resolve) => mirror.on('event', (e) => { if (e.type === 'cycle' && e.phase === 'complete') resolve(); }));
    await mirror.start();
    await first;
    progress(`first load done: ${JSON.stringify(mirror.summary().records)}`);
    const results: RouteResult[] = [];
    for (const route of ['/dashboard', '/api/summary']) {
      const [c0, a0] = [cycles, applied];
      const r = await autocannon(`${base}${route}`, connections, seconds);
      results.push({
        route, requestsPerSecond: Math.round(r.requests.average), p50Ms: r.latency.p50, p99Ms: r.latency.p99, non2xx: r.non2xx, errors: r.errors,
        cyclesDuring: cycles - c0, recordsAppliedDuring: applied - a0,
      });
      progress(`${route}: ${JSON.stringify(results[results.length - 1])}`);
    }
    return results;
  } finally {
    await app.close();
    await mirror.close();
    await sim.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { records: { type: 'string' }, churn: { type: 'string' }, connections: { type: 'string' }, seconds: { type: 'string' }, json: { type: 'string' } } });
  const options = { records: Number(values.records ?? 20_000), churn: Number(values.churn ?? 100), connections: Number(values.connections ?? 20), seconds: Number(values.seconds ?? 10) };
  console.log(`servicenow-dashboard: ${JSON.stringify(options)}, node ${process.version}`);
  const results = await runDashboard(options, (line) => console.log(line));
  console.log('\n| route | requests/s | p50 | p99 | non-2xx | sync cycles during | records applied during |\n|---|---:|---:|---:|---:|---:|---:|');
  for (const r of results) console.log(`| ${r.route} | **${r.requestsPerSecond}** | ${r.p50Ms} ms | **${r.p99Ms} ms** | ${r.non2xx} | ${r.cyclesDuring} | ${r.recordsAppliedDuring} |`);
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify({ node: process.version, options, results }, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
