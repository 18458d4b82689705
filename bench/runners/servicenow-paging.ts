/**
 * servicenow-paging: the ServiceNow simulator must not be a benchmark's
 * bottleneck. It seeds N task records (half incidents), then a holdfast client
 * in the same script pages through every incident, 1,000 at a time, ordered by
 * sys_updated_on then sys_id, following the Link header's rel="next", as a
 * full sync does. Reports records per second and the process's peak RSS.
 *
 *   npm run bench:servicenow-paging
 *   options: --records N (default 200000) --page N (default 1000) --json FILE
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { request, type Dispatcher } from 'undici';
import { createDispatcher } from 'holdfast';
import { ServiceNowSimulator } from '@holdfast/servicenow/internal/simulate/servicenow/servicenow-simulator.js';

export interface PagingResult {
  records: number;
  pageSize: number;
  incidents: number;
  pages: number;
  seconds: number;
  recordsPerSecond: number;
  seedSeconds: number;
  peakRssMiB: number;
}

export async function runPaging({ records, pageSize }: { records: number; pageSize: number }, progress: (line: string) => void = () => {}): Promise<PagingResult> {
  let peak = process.memoryUsage().rss;
  const sample = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 50);
  const seeding = performance.now();
  const sim = await ServiceNowSimulator.start({ records, seed: 7, epochMs: Date.parse('2026-11-01T00:00:00Z') });
  const seedSeconds = (performance.now() - seeding) / 1000;
  progress(`seeded ${records} records in ${seedSeconds.toFixed(1)} s`);
  const dispatcher = createDispatcher({ connections: 1 });
  const authorization = `Basic ${Buffer.from('admin:admin').toString('base64')}`;
  try {
    const started = performance.now();
    let next: string | undefined = `${sim.url}/api/now/table/incident?${new URLSearchParams({
      sysparm_query: 'ORDERBYsys_updated_on^ORDERBYsys_id', sysparm_limit: String(pageSize), sysparm_exclude_reference_link: 'true',
    })}`;
    let seen = 0;
    let pages = 0;
    let last = '';
    while (next !== undefined) {
      const res: Dispatcher.ResponseData = await request(next, { dispatcher, headers: { authorization, accept: 'application/json' } });
      if (res.statusCode !== 200) throw new Error(`page ${pages + 1}: HTTP ${res.statusCode}`);
      const { result } = (await res.body.json()) as { result: { sys_updated_on: string; sys_id: string }[] };
      for (const row of result) {
        const key = `${row.sys_updated_on} ${row.sys_id}`;
        if (key <= last) throw new Error(`out of order at record ${seen}: ${key} after ${last}`);
        last = key;
      }
      seen += result.length;
      pages++;
      next = /<([^>]+)>;rel="next"/.exec(String(res.headers.link ?? ''))?.[1];
      if (pages % 20 === 0) progress(`${seen} incidents, ${pages} pages`);
    }
    const seconds = (performance.now() - started) / 1000;
    const incidents = sim.data.table('incident')!.size;
    if (seen !== incidents) throw new Error(`paged ${seen} incidents of ${incidents}`);
    return { records, pageSize, incidents: seen, pages, seconds: Math.round(seconds * 100) / 100, recordsPerSecond: Math.round(seen / seconds), seedSeconds: Math.round(seedSeconds * 10) / 10, peakRssMiB: Math.round(peak / 2 ** 20) };
  } finally {
    clearInterval(sample);
    await dispatcher.close();
    await sim.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { records: { type: 'string' }, page: { type: 'string' }, json: { type: 'string' } } });
  const options = { records: Number(values.records ?? 200_000), pageSize: Number(values.page ?? 1000) };
  console.log(`servicenow-paging: ${JSON.stringify(options)}, node ${process.version}`);
  const result = await runPaging(options, (line) => console.log(line));
  console.log(`\n| incidents | page | pages | seconds | records/s | peak RSS |\n|---:|---:|---:|---:|---:|---:|`);
  console.log(`| ${result.incidents} | ${result.pageSize} | ${result.pages} | ${result.seconds} | **${result.recordsPerSecond}** | ${result.peakRssMiB} MiB |`);
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify({ node: process.version, ...result }, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
