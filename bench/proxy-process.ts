import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { autocannon } from './autocannon.js';

const here = (name: string) => fileURLToPath(new URL(name, import.meta.url));
/** The CLI as built for the bench (.bench-build), or the package's build when run from source (the smoke test). */
export const PROXY_CLI = existsSync(here('../src/cli/main.js')) ? here('../src/cli/main.js') : here('../dist/cli/main.js');

/** A port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

/** `holdfast proxy` as a child process for the proxy benchmarks, with its admin API. */
export interface BenchProxy {
  child: ChildProcess;
  /** Open connections, from the admin API. */
  active(): Promise<number>;
  /** Resident set size of the proxy process, in bytes. */
  rss(): number;
  stop(): Promise<void>;
}

export async function startBenchProxy(config: Record<string, unknown>): Promise<BenchProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-bench-proxy-'));
  const file = join(dir, 'proxy.yaml');
  writeFileSync(file, stringify({ ...config, admin: { host: '127.0.0.1', port: 0 } }));
  const child = spawn(process.execPath, [PROXY_CLI, 'proxy', '--config', file, '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  const admin = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /"admin":"([^"]+)"/.exec(output);
      if (match !== null && output.includes('proxy ready')) resolve(match[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the proxy exited with ${code}: ${output}`)));
  });
  child.stdout!.resume();
  return {
    child,
    async active() {
      const res = await fetch(`${admin}/connections?limit=0`, { headers: { connection: 'close' } });
      return ((await res.json()) as { active: number }).active;
    },
    rss() {
      const status = readFileSync(`/proc/${child.pid!}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
    },
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it holds, or fails after `timeoutMs` (a bench script's wait, not a test's). */
export async function until(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const CLK_TCK = 100; // Linux's USER_HZ: /proc/PID/stat counts CPU time in 1/100 s

/** User + system CPU time of a process, in µs, from the OS's accounting (/proc/PID/stat). */
export function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / CLK_TCK) * 1e6; // utime, stime (fields 14, 15)
}

export const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

/** Whether a command runs (a peer installed from Debian's packages, say). */
export function hasCommand(command: string, args: string[]): boolean {
  try {
    execFileSync(command, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Resolves once something accepts on the port (the contestant is up). */
export async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  await until(async () => {
    if (child.exitCode !== null) throw new Error(`contestant exited with ${child.exitCode}`);
    return accepts(port);
  }, 5000, `something listening on ${port}`);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  });
}

/** A proxy under comparison: its name, the port it serves, its process. */
export interface Contestant {
  name: string;
  port: number;
  child: ChildProcess;
}

/** What the rounds measured of one contestant, in round order. */
export interface ContestantRounds {
  name: string;
  rps: number[];
  p99Ms: number[];
  cpuUsPerRequest: number[];
  /** The backend's (upstream's) CPU per request during this contestant's runs, when its pid was given. */
  backendCpuUsPerRequest: number[];
  errors: number;
}

/**
 * Warms every contestant under the same load for `warmupSeconds` (default: one round's
 * length), then runs `rounds` rounds of autocannon against each, the order rotating so that
 * drift in the machine's speed hits all alike. Each run's CPU per request is `cpuUs(pid)`
 * after minus before, divided by the requests answered; with `backendPid`, the backend's
 * own CPU time over the same run is divided the same way.
 *
 * The warm-up is what makes the rounds measure a steady state: a Node process spends its
 * first seconds under load compiling its hot functions (V8's optimizing compiler runs on
 * threads of the same process, so its CPU time is counted), and a warm-up of one second left
 * a share of that in the first round, more for a bigger program (holdfast, fastify) than for
 * a small one, and nothing for nginx or HAProxy.
 */
export async function runRounds(
  contestants: readonly Contestant[],
  options: { seconds: number; rounds: number; connections: number; warmupSeconds?: number },
  cpuUs: (pid: number) => number,
  progress: (line: string) => void,
  backendPid?: number,
): Promise<ContestantRounds[]> {
  const rows = contestants.map((c): ContestantRounds => ({ name: c.name, rps: [], p99Ms: [], cpuUsPerRequest: [], backendCpuUsPerRequest: [], errors: 0 }));
  for (const c of contestants) {
    const warm = await autocannon(`http://127.0.0.1:${c.port}/`, options.connections, options.warmupSeconds ?? options.seconds);
    if (warm.requests.total === 0 || warm.non2xx > 0) throw new Error(`${c.name} does not answer: ${warm.non2xx} non-2xx of ${warm.requests.total}`);
    progress(`warmed ${c.name}`);
  }
  for (let round = 0; round < options.rounds; round++) {
    for (let k = 0; k < contestants.length; k++) {
      const index = (round + k) % contestants.length;
      const c = contestants[index]!;
      const before = cpuUs(c.child.pid!);
      const backendBefore = backendPid === undefined ? 0 : processCpuUs(backendPid);
      const run = await autocannon(`http://127.0.0.1:${c.port}/`, options.connections, options.seconds);
      const perRequest = (cpuUs(c.child.pid!) - before) / run.requests.total;
      const row = rows[index]!;
      if (backendPid !== undefined) row.backendCpuUsPerRequest.push(Math.round(((processCpuUs(backendPid) - backendBefore) / run.requests.total) * 100) / 100);
      row.rps.push(Math.round(run.requests.average));
      row.p99Ms.push(run.latency.p99);
      row.cpuUsPerRequest.push(Math.round(perRequest * 100) / 100);
      row.errors += run.errors + run.non2xx;
      progress(`round ${round + 1}: ${c.name}: ${Math.round(run.requests.average)} req/s, p99 ${run.latency.p99} ms, ${perRequest.toFixed(2)} µs CPU per request`);
    }
  }
  return rows;
}

/** SIGTERM to each contestant; resolves once all have exited. */
export async function stopContestants(contestants: readonly Contestant[]): Promise<void> {
  for (const c of contestants) {
    c.child.kill('SIGTERM');
    if (c.child.exitCode === null && c.child.signalCode === null) await once(c.child, 'exit');
  }
}
