/**
 * proxy-l4: holdfast's layer-4 proxy against a naive `net` pipe and HAProxy in TCP mode
 * (1 thread), in the same run, on loopback. autocannon (its own process) sends HTTP/1.1
 * keep-alive requests for "hello world" through each proxy to the same backend process;
 * each proxy's CPU time is read from the OS's accounting of its process (/proc/PID/stat)
 * and divided by the requests it forwarded. Rounds rotate the order, so that drift in the
 * machine's speed hits all alike; medians are reported.
 *
 *   npm run bench:proxy-l4
 *   options: --seconds S (per proxy per round, default 5) --rounds N (default 5)
 *            --warmup S (load on each proxy before the rounds, default: --seconds)
 *            --connections C (default 50) --json FILE
 *            --workers: holdfast with `workers: 2` (cluster, then reusePort) against one process,
 *            and no other proxy; CPU of every process of each (supervisor included)
 *
 * HAProxy is used when `haproxy` is on the PATH (Debian: apt-get install haproxy); without
 * it, its row is left out and the run says so.
 */
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  freePort, hasCommand, median, processCpuUs, runRounds, startHoldfastContestant, stopContestants, treeCpuUs, waitForPort, type Contestant, type ContestantRounds,
} from '../fixtures/proxy-process.js';

export interface L4Options {
  seconds: number;
  rounds: number;
  connections: number;
  /** Seconds of load on each contestant before the rounds (default: `seconds`). */
  warmupSeconds?: number;
  /** Holdfast with two workers (cluster, reusePort) against one process, and no peer. */
  workers?: boolean;
}

export interface L4Row extends ContestantRounds {
  medianRps: number;
  medianCpuUs: number;
}

export interface L4Result {
  options: L4Options;
  rows: L4Row[];
  /** holdfast's CPU per request over the naive pipe's, and over HAProxy's (medians). */
  holdfastOverNaive: number;
  holdfastOverHaproxy: number | undefined;
  /** With `workers`: each two-worker holdfast's median req/s over the one process's. */
  workers?: { clusterRps: number; reusePortRps: number };
}

const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));


function startHoldfast(backend: number, dir: string, workerBalance?: 'cluster' | 'reusePort'): Promise<Contestant> {
  // Every lifecycle feature on: tracking, limits, and all the timeouts.
  return startHoldfastContestant(workerBalance === undefined ? 'holdfast proxy' : `holdfast proxy, workers: 2 (${workerBalance})`, dir, (port) => ({
    ...(workerBalance === undefined ? {} : { workers: 2, workerBalance }),
    upstreams: [{ name: 'backend', targets: [`127.0.0.1:${backend}`] }],
    listeners: [{ host: '127.0.0.1', port }],
    routes: [{ name: 'backend', action: { type: 'forward', upstream: 'backend' } }],
    timeouts: { connectMs: 5000, firstDataMs: 10_000, idleMs: 60_000, lifetimeMs: 3_600_000, halfCloseMs: 30_000 },
    limits: { maxConnections: 10_000, perIp: 1_000, perRoute: 10_000, newPerSecondPerIp: 1_000 },
    admin: { host: '127.0.0.1', port: 0 },
  }));
}

async function startNaive(backend: number): Promise<Contestant> {
  const port = await freePort();
  const child = fork(here('../peers/naive-pipe.mjs'), [String(port), String(backend)], { stdio: 'inherit' });
  await once(child, 'message');
  return { name: 'naive net pipe', port, child };
}

async function startHaproxy(backend: number, dir: string): Promise<Contestant> {
  const port = await freePort();
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, [
    'global', '  nbthread 1', '  maxconn 4096', // under the machine's limit of 20,000 descriptors
    'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s',
    'frontend in', `  bind 127.0.0.1:${port}`, '  default_backend out',
    'backend out', `  server s1 127.0.0.1:${backend}`, '',
  ].join('\n'));
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, child);
  return { name: 'HAProxy 1 thread (mode tcp)', port, child };
}

export async function runProxyL4(options: L4Options, progress: (line: string) => void = () => {}): Promise<L4Result> {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-bench-'));
  const backend = fork(here('../fixtures/hello-server.mjs'), { stdio: 'inherit' });
  const contestants: Contestant[] = [];
  try {
    const [{ port: backendPort }] = (await once(backend, 'message')) as [{ port: number }];
    if (options.workers === true) {
      contestants.push(await startHoldfast(backendPort, dir), await startHoldfast(backendPort, dir, 'cluster'), await startHoldfast(backendPort, dir, 'reusePort'));
      const rows = (await runRounds(contestants, options, treeCpuUs, progress)).map((row): L4Row => ({ ...row, medianRps: median(row.rps), medianCpuUs: median(row.cpuUsPerRequest) }));
      const share = (row: L4Row) => row.medianRps / rows[0]!.medianRps;
      return { options, rows, holdfastOverNaive: 0, holdfastOverHaproxy: undefined, workers: { clusterRps: share(rows[1]!), reusePortRps: share(rows[2]!) } };
    }
    contestants.push(await startHoldfast(backendPort, dir), await startNaive(backendPort));
    if (hasCommand('haproxy', ['-v'])) contestants.push(await startHaproxy(backendPort, dir));
    else progress('haproxy not found: its row is left out (apt-get install haproxy)');
    const rows = (await runRounds(contestants, options, processCpuUs, progress))
      .map((row): L4Row => ({ ...row, medianRps: median(row.rps), medianCpuUs: median(row.cpuUsPerRequest) }));
    const [holdfast, naive, haproxy] = rows;
    const ratio = (a: number, b: number) => Math.round((a / b) * 100) / 100;
    return {
      options,
      rows,
      holdfastOverNaive: ratio(holdfast!.medianCpuUs, naive!.medianCpuUs),
      holdfastOverHaproxy: haproxy === undefined ? undefined : ratio(holdfast!.medianCpuUs, haproxy.medianCpuUs),
    };
  } finally {
    await stopContestants(contestants);
    backend.disconnect();
    await once(backend, 'exit');
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatL4(result: L4Result): string {
  const lines = ['| proxy | median req/s | median CPU per request | rounds (µs per request) | errors |', '|---|---:|---:|---|---:|'];
  for (const row of result.rows) lines.push(`| ${row.name} | ${row.medianRps} | ${row.medianCpuUs} µs | ${row.cpuUsPerRequest.join(', ')} | ${row.errors} |`);
  if (result.workers !== undefined) {
    const pct = (r: number) => `${Math.round(r * 100)}%`;
    lines.push('', `Two workers' req/s over one process's (medians): ${pct(result.workers.clusterRps)} with cluster, ${pct(result.workers.reusePortRps)} with reusePort.`);
    return lines.join('\n');
  }
  lines.push('', `holdfast's CPU per request: ${result.holdfastOverNaive}× the naive pipe's${result.holdfastOverHaproxy === undefined ? '' : `, ${result.holdfastOverHaproxy}× HAProxy's`}`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, rounds: { type: 'string' }, connections: { type: 'string' }, warmup: { type: 'string' }, json: { type: 'string' }, workers: { type: 'boolean' } } });
  const options: L4Options = { seconds: Number(values.seconds ?? 5), rounds: Number(values.rounds ?? 5), connections: Number(values.connections ?? 50), warmupSeconds: Number(values.warmup ?? values.seconds ?? 5), workers: values.workers === true };
  console.log(`proxy-l4: ${JSON.stringify(options)}, node ${process.version}`);
  const result = await runProxyL4(options, (line) => console.log(line));
  console.log(`\n${formatL4(result)}`);
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify({ node: process.version, ...result }, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
