/**
 * proxy-h2: HTTP/2 toward clients. holdfast's terminating route (h2 by ALPN, TLS 1.3) against
 * nginx (1 worker, `listen … ssl http2`) and a bare Node h2 proxy (the floor: node:http2 and
 * an undici Pool, nothing else), in the same run, on loopback, all proxying to the same
 * "hello world" HTTP/1.1 upstream process with keep-alive. h2load (Debian's
 * nghttp2-client, its own process) opens `--clients` sessions of `--streams` concurrent
 * streams each. For each proxy: requests/s, and its CPU time per request from the OS's
 * accounting of its processes (/proc/PID/stat; nginx's master and worker together). Rounds
 * rotate the order; medians are reported, and holdfast's ratio to nginx is the median of the
 * rounds' ratios.
 *
 *   npm run bench:proxy-h2
 *   options: --seconds S (per proxy per round, default 5) --rounds N (default 5)
 *            --clients C (default 10) --streams M (default 10) --json FILE
 *
 * nginx is used when installed (apt-get install nginx-light); without it, its row is left
 * out and the run says so. h2load is required (apt-get install nghttp2-client).
 */
import { execFile, fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { freePort, hasCommand, median, medianRatio, startHoldfastContestant, stopContestants, treeCpuUs, type Contestant } from '../fixtures/proxy-process.js';
import { selfSigned } from '../fixtures/self-signed.js';
import { startNginx } from '../fixtures/nginx.js';

export interface H2BenchOptions {
  seconds: number;
  rounds: number;
  clients: number;
  streams: number;
}

export interface H2Row {
  name: string;
  rps: number[];
  cpuUsPerRequest: number[];
  failed: number;
  medianRps: number;
  medianCpuUs: number;
}

export interface H2BenchResult {
  options: H2BenchOptions;
  rows: H2Row[];
  /** holdfast's CPU per request over nginx's: the median of the rounds' ratios (undefined without nginx). */
  holdfastOverNginx: number | undefined;
  /** holdfast's over the bare Node floor's, and the floor's over nginx's, the same way. */
  holdfastOverFloor: number;
  floorOverNginx: number | undefined;
}

export const H2_NAMES = {
  holdfast: 'holdfast proxy (terminate, h2)',
  nginx: 'nginx (1 worker, ssl http2)',
  bare: 'bare Node (http2 secure server + undici Pool, nothing else)',
} as const;

const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));
const run = promisify(execFile);

function startHoldfast(upstream: number, dir: string): Promise<Contestant> {
  return startHoldfastContestant(H2_NAMES.holdfast, dir, (port) => ({
    upstreams: [{ name: 'app', targets: [`127.0.0.1:${upstream}`] }],
    listeners: [{ host: '127.0.0.1', port }],
    routes: [{ name: 'tls', action: { type: 'terminate', routes: [{ name: 'app', action: { type: 'proxy', upstream: 'app' } }] } }],
    certificates: [{ certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') }],
    limits: { maxConnections: 10_000, perIp: 1_000, newPerSecondPerIp: 1_000 },
  }));
}

/** The floor any Node h2 proxy stands on (bench/peers/bare-node-h2-proxy.mjs). */
async function startBare(upstream: number, dir: string): Promise<Contestant> {
  const port = await freePort();
  const child = fork(here('../peers/bare-node-h2-proxy.mjs'), [String(port), String(upstream), join(dir, 'cert.pem'), join(dir, 'key.pem')], { stdio: 'inherit' });
  await once(child, 'message');
  return { name: H2_NAMES.bare, port, child };
}

/** One h2load run: requests/s and the requests that succeeded and failed. */
async function h2load(port: number, options: H2BenchOptions, seconds: number): Promise<{ rps: number; succeeded: number; failed: number }> {
  const { stdout } = await run('h2load', ['-D', String(seconds), '-c', String(options.clients), '-m', String(options.streams), '-t', '1', `https://127.0.0.1:${port}/`], { maxBuffer: 16 * 1024 * 1024 });
  const rps = Number(/finished in [\d.]+s, ([\d.]+) req\/s/.exec(stdout)?.[1]);
  const counts = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(stdout);
  if (Number.isNaN(rps) || counts === null) throw new Error(`h2load's output was not understood:\n${stdout}`);
  return { rps, succeeded: Number(counts[1]), failed: Number(counts[2]) + Number(counts[3]) };
}

export async function runProxyH2(options: H2BenchOptions, progress: (line: string) => void = () => {}): Promise<H2BenchResult> {
  if (!hasCommand('h2load', ['--version'])) throw new Error('proxy-h2 needs h2load (apt-get install nghttp2-client)');
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-bench-h2-'));
  const { cert, key } = selfSigned();
  writeFileSync(join(dir, 'cert.pem'), cert);
  writeFileSync(join(dir, 'key.pem'), key, { mode: 0o600 });
  const upstream = fork(here('../fixtures/hello-server.mjs'), { stdio: 'inherit' });
  const contestants: Contestant[] = [];
  try {
    const [{ port: upstreamPort }] = (await once(upstream, 'message')) as [{ port: number }];
    contestants.push(await startHoldfast(upstreamPort, dir));
    if (hasCommand('nginx', ['-v'])) contestants.push(await startNginx(H2_NAMES.nginx, upstreamPort, dir, [], { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem'), http2: true }));
    else progress('nginx not found: its row is left out (apt-get install nginx-light)');
    contestants.push(await startBare(upstreamPort, dir));
    for (const c of contestants) {
      const warm = await h2load(c.port, options, options.seconds);
      if (warm.succeeded === 0 || warm.failed > 0) throw new Error(`${c.name} does not answer: ${warm.failed} failed of ${warm.succeeded + warm.failed}`);
      progress(`warmed ${c.name}`);
    }
    const rows = contestants.map((c): H2Row => ({ name: c.name, rps: [], cpuUsPerRequest: [], failed: 0, medianRps: 0, medianCpuUs: 0 }));
    for (let round = 0; round < options.rounds; round++) {
      for (let k = 0; k < contestants.length; k++) {
        const index = (round + k) % contestants.length;
        const c = contestants[index]!;
        const before = treeCpuUs(c.child.pid!);
        const result = await h2load(c.port, options, options.seconds);
        const perRequest = (treeCpuUs(c.child.pid!) - before) / Math.max(1, result.succeeded);
        const row = rows[index]!;
        row.rps.push(Math.round(result.rps));
        row.cpuUsPerRequest.push(Math.round(perRequest * 100) / 100);
        row.failed += result.failed;
        progress(`round ${round + 1}: ${c.name}: ${Math.round(result.rps)} req/s, ${perRequest.toFixed(2)} µs CPU per request`);
      }
    }
    for (const row of rows) Object.assign(row, { medianRps: median(row.rps), medianCpuUs: median(row.cpuUsPerRequest) });
    const nginx = rows.find((row) => row.name === H2_NAMES.nginx);
    const bare = rows.find((row) => row.name === H2_NAMES.bare)!;
    return {
      options, rows,
      holdfastOverNginx: nginx === undefined ? undefined : medianRatio(rows[0]!, nginx),
      holdfastOverFloor: medianRatio(rows[0]!, bare),
      floorOverNginx: nginx === undefined ? undefined : medianRatio(bare, nginx),
    };
  } finally {
    await stopContestants(contestants);
    upstream.disconnect();
    await once(upstream, 'exit');
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatH2(result: H2BenchResult): string {
  const lines = ['| proxy | median req/s | median CPU per request | rounds (µs CPU per request) | failed |', '|---|---:|---:|---|---:|'];
  for (const row of result.rows) lines.push(`| ${row.name} | ${row.medianRps} | ${row.medianCpuUs} µs | ${row.cpuUsPerRequest.join(', ')} | ${row.failed} |`);
  lines.push('', `holdfast's CPU per h2 request over the bare Node floor's (median of rounds): ${result.holdfastOverFloor}×.`);
  if (result.holdfastOverNginx !== undefined) lines.push(`holdfast's over nginx's: ${result.holdfastOverNginx}×; the floor's over nginx's: ${result.floorOverNginx}×.`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, rounds: { type: 'string' }, clients: { type: 'string' }, streams: { type: 'string' }, json: { type: 'string' } } });
  const options: H2BenchOptions = { seconds: Number(values.seconds ?? 5), rounds: Number(values.rounds ?? 5), clients: Number(values.clients ?? 10), streams: Number(values.streams ?? 10) };
  console.log(`proxy-h2: ${JSON.stringify(options)}, node ${process.version}`);
  const result = await runProxyH2(options, (line) => console.log(line));
  console.log(`\n${formatH2(result)}`);
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify({ node: process.version, ...result }, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
