/**
 * proxy-http: holdfast's HTTP reverse proxy against nginx (1 worker, upstream keepalive),
 * HAProxy (1 thread, mode http), node http-proxy and fastify with @fastify/http-proxy, in the
 * same run, on loopback. autocannon (its own process) sends keep-alive GETs through each proxy
 * to the same "hello world" upstream process; every proxy keeps its upstream connections
 * alive. A bare Node proxy (an http server and an undici Pool, nothing else) is the floor that
 * any Node proxy stands on. For each: requests/s, p99 latency, and the proxy's CPU time per request, read from the
 * OS's accounting of its processes (/proc/PID/stat; nginx's master and worker together).
 * Rounds rotate the order so that drift in the machine's speed hits all alike; medians are
 * reported, and holdfast's ratio to each peer is the median of the rounds' ratios; so is the
 * bare floor's ratio to nginx, HAProxy, http-proxy and fastify. The upstream's own CPU per
 * request during each proxy's runs is reported too: a node:http server that only answers.
 *
 *   npm run bench:proxy-http
 *   options: --seconds S (per proxy per round, default 5) --rounds N (default 7)
 *            --warmup S (load on each proxy before the rounds, default: --seconds)
 *            --connections C (default 50) --json FILE
 *            --access-log: holdfast with its access log on (a file) against holdfast with it off,
 *            and no other proxy: what logging costs per request (the median of the rounds' ratios)
 *            --workers: holdfast with `workers: 2`, connections handed out by the supervisor
 *            (cluster) and spread by the kernel (reusePort), against one process, and no other
 *            proxy: req/s and CPU per request of every process of each (supervisor included)
 *
 * nginx and HAProxy are used when installed (Debian: apt-get install nginx-light haproxy);
 * without them, their rows are left out and the run says so.
 */
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import {
  freePort, hasCommand, median, medianRatio, runRounds, startHoldfastContestant, stopContestants, treeCpuUs, waitForPort, type Contestant, type ContestantRounds,
} from '../fixtures/proxy-process.js';
import { startNginx } from '../fixtures/nginx.js';

export interface HttpBenchOptions {
  seconds: number;
  rounds: number;
  connections: number;
  /** Seconds of load on each contestant before the rounds (default: `seconds`). */
  warmupSeconds?: number;
  /** Holdfast with its access log on against holdfast with it off, and no peer. */
  accessLog?: boolean;
  /** Holdfast with two workers (cluster, reusePort) against one process, and no peer. */
  workers?: boolean;
}

export interface HttpRow extends ContestantRounds {
  medianRps: number;
  medianP99Ms: number;
  medianCpuUs: number;
  /** The upstream's CPU per request during this proxy's runs (median). */
  medianUpstreamCpuUs: number;
}

export interface HttpBenchResult {
  options: HttpBenchOptions;
  rows: HttpRow[];
  /** holdfast's CPU per request over each peer's: the median of the rounds' ratios, by peer name. */
  holdfastOver: Record<string, number>;
  /**
   * The bare Node floor's CPU per request over each other peer's, the same way: what any proxy
   * made of node:http and undici costs before it does anything of its own.
   */
  floorOver: Record<string, number>;
  /** With `accessLog`: the logged holdfast's CPU per request over the unlogged one's, and the lines it wrote. */
  accessLog?: { costRatio: number; lines: number };
  /** With `workers`: each two-worker holdfast's median req/s over the one process's. */
  workers?: { clusterRps: number; reusePortRps: number };
}

const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));

export const NAMES = {
  holdfast: 'holdfast proxy',
  nginx: 'nginx (1 worker)',
  haproxy: 'HAProxy (1 thread, mode http)',
  httpProxy: 'node http-proxy',
  fastify: 'fastify + @fastify/http-proxy',
  bare: 'bare Node (http server + undici Pool, nothing else)',
  logged: 'holdfast proxy, access log on (a file)',
  cluster: 'holdfast proxy, workers: 2 (cluster)',
  reusePort: 'holdfast proxy, workers: 2 (reusePort)',
} as const;

function startHoldfast(upstream: number, dir: string, accessLog?: string, workerBalance?: 'cluster' | 'reusePort'): Promise<Contestant> {
  // The defaults: metrics, forwarding headers, limits, the client core's replay and breaker.
  const name = workerBalance !== undefined ? NAMES[workerBalance] : accessLog === undefined ? NAMES.holdfast : NAMES.logged;
  return startHoldfastContestant(name, dir, (port) => ({
    ...(accessLog === undefined ? {} : { accessLog: { output: accessLog } }),
    ...(workerBalance === undefined ? {} : { workers: 2, workerBalance }),
    upstreams: [{ name: 'app', targets: [`127.0.0.1:${upstream}`] }],
    listeners: [{ host: '127.0.0.1', port }],
    routes: [{ name: 'web', action: { type: 'http', routes: [{ name: 'app', action: { type: 'proxy', upstream: 'app' } }] } }],
    limits: { maxConnections: 10_000, perIp: 1_000, newPerSecondPerIp: 1_000 },
    admin: { host: '127.0.0.1', port: 0 },
  }));
}

async function startNodePeer(name: string, script: string, upstream: number): Promise<Contestant> {
  const port = await freePort();
  const child = fork(here(`../peers/${script}`), [String(port), String(upstream)], { stdio: 'inherit' });
  await once(child, 'message');
  return { name, port, child };
}

async function startHaproxy(upstream: number, dir: string): Promise<Contestant> {
  const port = await freePort();
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, [
    'global', '  nbthread 1', '  maxconn 4096', // under the machine's limit of 20,000 descriptors
    'defaults', '  mode http', '  option forwardfor', '  http-reuse safe',
    '  timeout connect 5s', '  timeout client 65s', '  timeout server 60s', '  timeout http-keep-alive 65s',
    'frontend in', `  bind 127.0.0.1:${port}`, '  default_backend out',
    'backend out', `  server s1 127.0.0.1:${upstream}`, '',
  ].join('\n'));
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  await waitForPort(port, child);
  return { name: NAMES.haproxy, port, child };
}

export async function runProxyHttp(options: HttpBenchOptions, progress: (line: string) => void = () => {}): Promise<HttpBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-bench-http-'));
  const upstream = fork(here('../fixtures/hello-server.mjs'), { stdio: 'inherit' });
  const contestants: Contestant[] = [];
  try {
    const [{ port: upstreamPort }] = (await once(upstream, 'message')) as [{ port: number }];
    contestants.push(await startHoldfast(upstreamPort, dir));
    const logFile = join(dir, 'access.log');
    if (options.accessLog === true) return await runAccessLog(contestants, await startHoldfast(upstreamPort, dir, logFile), logFile, upstream.pid, options, progress);
    if (options.workers === true) {
      contestants.push(await startHoldfast(upstreamPort, dir, undefined, 'cluster'), await startHoldfast(upstreamPort, dir, undefined, 'reusePort'));
      const rows = await measure(contestants, options, progress, upstream.pid);
      return { options, rows, holdfastOver: {}, floorOver: {}, workers: { clusterRps: rows[1]!.medianRps / rows[0]!.medianRps, reusePortRps: rows[2]!.medianRps / rows[0]!.medianRps } };
    }
    if (hasCommand('nginx', ['-v'])) contestants.push(await startNginx(NAMES.nginx, upstreamPort, dir));
    else progress('nginx not found: its row is left out (apt-get install nginx-light)');
    if (hasCommand('haproxy', ['-v'])) contestants.push(await startHaproxy(upstreamPort, dir));
    else progress('haproxy not found: its row is left out (apt-get install haproxy)');
    contestants.push(await startNodePeer(NAMES.httpProxy, 'http-proxy-peer.mjs', upstreamPort));
    contestants.push(await startNodePeer(NAMES.fastify, 'fastify-proxy-peer.mjs', upstreamPort));
    contestants.push(await startNodePeer(NAMES.bare, 'bare-node-proxy.mjs', upstreamPort));
    const rows = await measure(contestants, options, progress, upstream.pid);
    const holdfast = rows[0]!;
    const bare = rows.find((row) => row.name === NAMES.bare)!;
    const over = (of: HttpRow) => Object.fromEntries(rows.filter((row) => row !== of && row !== holdfast).map((row) => [row.name, medianRatio(of, row)]));
    return { options, rows, holdfastOver: over(holdfast), floorOver: over(bare) };
  } finally {
    await stopContestants(contestants);
    upstream.disconnect();
    await once(upstream, 'exit');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Holdfast with its access log against holdfast without, in the same rounds. */
async function runAccessLog(contestants: Contestant[], logged: Contestant, logFile: string, upstreamPid: number | undefined, options: HttpBenchOptions, progress: (line: string) => void): Promise<HttpBenchResult> {
  contestants.push(logged);
  const rows = await measure(contestants, options, progress, upstreamPid);
  await stopContestants(contestants.splice(1)); // its last lines written on the way out
  const lines = readFileSync(logFile, 'utf8').split('\n').filter((line) => line.includes('"type":"http"')).length;
  return { options, rows, holdfastOver: {}, floorOver: {}, accessLog: { costRatio: medianRatio(rows[1]!, rows[0]!), lines } };
}

async function measure(contestants: Contestant[], options: HttpBenchOptions, progress: (line: string) => void, upstreamPid: number | undefined): Promise<HttpRow[]> {
  return (await runRounds(contestants, options, treeCpuUs, progress, upstreamPid)).map((row): HttpRow => ({
    ...row, medianRps: median(row.rps), medianP99Ms: median(row.p99Ms), medianCpuUs: median(row.cpuUsPerRequest), medianUpstreamCpuUs: median(row.backendCpuUsPerRequest),
  }));
}

export function formatHttp(result: HttpBenchResult): string {
  const lines = ['| proxy | median req/s | median p99 | median CPU per request | holdfast\'s CPU per request ÷ this one\'s (median of rounds) | rounds (µs CPU per request) | the upstream\'s CPU per request meanwhile | errors |', '|---|---:|---:|---:|---:|---|---:|---:|'];
  for (const row of result.rows) {
    const ratio = result.holdfastOver[row.name];
    lines.push(`| ${row.name} | ${row.medianRps} | ${row.medianP99Ms} ms | ${row.medianCpuUs} µs | ${ratio === undefined ? '—' : `${ratio}×`} | ${row.cpuUsPerRequest.join(', ')} | ${row.medianUpstreamCpuUs} µs | ${row.errors} |`);
  }
  if (result.accessLog !== undefined) {
    lines.push('', `The access log's cost: ${result.accessLog.costRatio}× the CPU per request of holdfast without it (median of rounds); ${result.accessLog.lines} lines written.`);
    return lines.join('\n');
  }
  if (result.workers !== undefined) {
    const pct = (r: number) => `${Math.round(r * 100)}%`;
    lines.push('', `Two workers' req/s over one process's (medians): ${pct(result.workers.clusterRps)} with cluster, ${pct(result.workers.reusePortRps)} with reusePort.`);
    return lines.join('\n');
  }
  const floor = Object.entries(result.floorOver).map(([name, ratio]) => `${ratio}× ${name}'s`).join(', ');
  lines.push('', `The bare Node floor's CPU per request (median of rounds): ${floor}.`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, rounds: { type: 'string' }, connections: { type: 'string' }, warmup: { type: 'string' }, json: { type: 'string' }, 'access-log': { type: 'boolean' }, workers: { type: 'boolean' } } });
  const options: HttpBenchOptions = {
    seconds: Number(values.seconds ?? 5), rounds: Number(values.rounds ?? 7), connections: Number(values.connections ?? 50), warmupSeconds: Number(values.warmup ?? values.seconds ?? 5), accessLog: values['access-log'] === true, workers: values.workers === true,
  };
  console.log(`proxy-http: ${JSON.stringify(options)}, node ${process.version}`);
  const result = await runProxyHttp(options, (line) => console.log(line));
  console.log(`\n${formatHttp(result)}`);
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify({ node: process.version, ...result }, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
