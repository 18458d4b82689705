/**
 * proxy-body: what reading a request body before taking an upstream connection costs (issue 19's
 * choice: http.bufferRequestBodyBytes, as nginx buffers), against streaming it as it arrives
 * (bufferRequestBodyBytes: 0), for POST bodies of a few sizes, with nginx (which buffers too) in
 * the same run when installed. autocannon sends keep-alive POSTs on C connections through each
 * proxy to the "hello world" upstream, which reads each body to its end. For each: req/s, p99 and
 * the proxy's CPU per request (/proc/PID/stat), rounds rotating, medians.
 *
 *   npm run bench:proxy-body
 *   options: --seconds S (default 5) --rounds N (default 5) --connections C (default 50)
 *            --sizes 1024,65536 (body bytes) --json FILE
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { hasCommand, median, runRounds, startHoldfastContestant, stopContestants, treeCpuUs, type Contestant } from '../fixtures/proxy-process.js';
import { startNginx } from '../fixtures/nginx.js';

export interface BodyBenchOptions {
  seconds: number;
  rounds: number;
  connections: number;
  /** Body sizes in bytes, one set of rounds each. */
  sizes: number[];
}

export interface BodyRow {
  size: number;
  name: string;
  medianRps: number;
  medianP99Ms: number;
  medianCpuUs: number;
  cpuUsPerRequest: number[];
  errors: number;
}

const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));

export const BODY_NAMES = { buffered: 'holdfast, bodies read first (default)', streamed: 'holdfast, bodies streamed (bufferRequestBodyBytes: 0)', nginx: 'nginx (1 worker)' } as const;

function startHoldfast(name: string, upstream: number, dir: string, bufferRequestBodyBytes: number | undefined): Promise<Contestant> {
  return startHoldfastContestant(name, dir, (port) => ({
    upstreams: [{ name: 'app', targets: [`127.0.0.1:${upstream}`] }],
    listeners: [{ host: '127.0.0.1', port }],
    routes: [{ name: 'web', action: { type: 'http', routes: [{ name: 'app', action: { type: 'proxy', upstream: 'app' } }] } }],
    limits: { maxConnections: 10_000, perIp: 1_000, newPerSecondPerIp: 1_000 },
    ...(bufferRequestBodyBytes === undefined ? {} : { http: { bufferRequestBodyBytes } }),
  }));
}

export async function runProxyBody(options: BodyBenchOptions, progress: (line: string) => void = () => {}): Promise<BodyRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-bench-body-'));
  const upstream = fork(here('../fixtures/hello-server.mjs'), { stdio: 'inherit' });
  const contestants: Contestant[] = [];
  try {
    const [{ port: upstreamPort }] = (await once(upstream, 'message')) as [{ port: number }];
    contestants.push(await startHoldfast(BODY_NAMES.buffered, upstreamPort, dir, undefined));
    contestants.push(await startHoldfast(BODY_NAMES.streamed, upstreamPort, dir, 0));
    if (hasCommand('nginx', ['-v'])) contestants.push(await startNginx(BODY_NAMES.nginx, upstreamPort, dir, ['client_max_body_size 10m;', 'client_body_buffer_size 1m;']));
    else progress('nginx not found: its row is left out (apt-get install nginx-light)');
    const rows: BodyRow[] = [];
    for (const size of options.sizes) {
      progress(`POST bodies of ${size} bytes`);
      const rounds = await runRounds(contestants, options, treeCpuUs, progress, undefined, { method: 'POST', bodyBytes: size });
      for (const row of rounds) {
        rows.push({ size, name: row.name, medianRps: median(row.rps), medianP99Ms: median(row.p99Ms), medianCpuUs: median(row.cpuUsPerRequest), cpuUsPerRequest: row.cpuUsPerRequest, errors: row.errors });
      }
    }
    return rows;
  } finally {
    await stopContestants(contestants);
    upstream.disconnect();
    await once(upstream, 'exit');
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatBody(rows: readonly BodyRow[]): string {
  const lines = ['| body | proxy | median req/s | median p99 | median CPU per request | rounds (µs) | errors |', '|---:|---|---:|---:|---:|---|---:|'];
  for (const row of rows) lines.push(`| ${row.size} B | ${row.name} | ${row.medianRps} | ${row.medianP99Ms} ms | ${row.medianCpuUs} µs | ${row.cpuUsPerRequest.join(', ')} | ${row.errors} |`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, rounds: { type: 'string' }, connections: { type: 'string' }, sizes: { type: 'string' }, json: { type: 'string' } } });
  const options: BodyBenchOptions = {
    seconds: Number(values.seconds ?? 5), rounds: Number(values.rounds ?? 5), connections: Number(values.connections ?? 50),
    sizes: (values.sizes ?? '1024,65536').split(',').map(Number),
  };
  console.log(`proxy-body: ${JSON.stringify(options)}, node ${process.version}`);
  const rows = await runProxyBody(options, (line) => console.log(line));
  console.log(`\n${formatBody(rows)}`);
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify({ node: process.version, options, rows }, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
