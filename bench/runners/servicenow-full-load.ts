/**
 * servicenow-full-load: the mirror's first load of every incident from the
 * simulator (in its own process), through the whole client stack: holdfast's
 * dispatcher (rate limit, breaker, retries), the Table API client, keyset paging
 * and the memory store. Reports the time, records per second, the upstream
 * requests the client sent (and the simulator saw), and the mirror's peak RSS.
 *
 *   npm run bench:servicenow-full-load
 *   options: --records N (task records; half are incidents; default 200000)
 *            --page N (default 1000) --rate N (requests/s budget, default 50) --json FILE
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Mirror } from '@holdfast/servicenow/internal/servicenow/mirror.js';
import { startSimulatorProcess } from '../fixtures/simulator-process.js';

export interface FullLoadResult {
  incidents: number;
  pageSize: number;
  requestsPerSecondBudget: number;
  seconds: number;
  recordsPerSecond: number;
  /** Requests the mirror's client sent for the incident load (retries included). */
  upstreamRequests: number;
  /** Requests the simulator answered in all (groups, incidents, the delete check), and by status. */
  simulatorRequests: number;
  simulatorStatuses: Record<string, number>;
  peakRssMiB: number;
}

export async function runFullLoad({ records, pageSize, rate }: { records: number; pageSize: number; rate: number }, progress: (line: string) => void = () => {}): Promise<FullLoadResult> {
  const sim = await startSimulatorProcess(['--records', String(records), '--seed', '7']);
  let peak = process.memoryUsage().rss;
  const sample = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 50);
  const mirror = new Mirror({
    instance: sim.url, auth: { type: 'basic', user: 'admin', password: 'admin' },
    tables: ['sys_user_group', 'incident'], pageSize, requestsPerSecond: rate, intervalS: 86_400,
  });
  try {
    mirror.on('event', (e) => { if (e.type === 'page' && e.loaded % (pageSize * 20) === 0) progress(`${e.table}: ${e.loaded}${e.expected === undefined ? '' : ` of ${e.expected}`}`); });
    await mirror.engine.syncTable('sys_user_group');
    const before = mirror.client.requests;
    const started = performance.now();
    await mirror.engine.syncTable('incident');
    const seconds = (performance.now() - started) / 1000;
    const upstreamRequests = mirror.client.requests - before;
    const incidents = (await mirror.store.ids('incident')).size;
    const { requests, byStatus } = await sim.stats();
    return {
      incidents, pageSize, requestsPerSecondBudget: rate, seconds: Math.round(seconds * 100) / 100, recordsPerSecond: Math.round(incidents / seconds),
      upstreamRequests, simulatorRequests: requests, simulatorStatuses: byStatus, peakRssMiB: Math.round(peak / 2 ** 20),
    };
  } finally {
    clearInterval(sample);
    await mirror.close();
    await sim.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { records: { type: 'string' }, page: { type: 'string' }, rate: { type: 'string' }, json: { type: 'string' } } });
  const options = { records: Number(values.records ?? 200_000), pageSize: Number(values.page ?? 1000), rate: Number(values.rate ?? 50) };
  console.log(`servicenow-full-load: ${JSON.stringify(options)}, node ${process.version}`);
  const r = await runFullLoad(options, (line) => console.log(line));
  console.log(`\n| incidents | page | seconds | records/s | upstream requests | peak RSS |\n|---:|---:|---:|---:|---:|---:|`);
  console.log(`| ${r.incidents} | ${r.pageSize} | **${r.seconds}** | ${r.recordsPerSecond} | ${r.upstreamRequests} | ${r.peakRssMiB} MiB |`);
  console.log(`simulator: ${r.simulatorRequests} requests in all, by status ${JSON.stringify(r.simulatorStatuses)}`);
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify({ node: process.version, ...r }, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
