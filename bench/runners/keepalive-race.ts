/**
 * keepalive-race: the same schedule of GETs and POSTs, landing at the server's
 * idle-close boundary with jitter, against each fault mode of the flaky
 * upstream, for each client. Every client gets its own upstream, so their
 * connections never meet. Reports what the caller saw and what the server saw.
 *
 *   npm run bench:keepalive-race                # full run (~6 min)
 *   npm run bench:keepalive-race -- --quick     # seconds, for a look
 *   options: --requests N --idle MS --race-window MS --seed N --modes a,b --clients "x,y" --json FILE
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { FlakyServer, type FlakyFaults, type FlakyStats } from 'holdfast/internal/simulate/flaky-server.js';
import { H2FlakyServer, type H2Faults } from '../fixtures/h2-flaky-server.js';
import { selfSigned } from '../fixtures/self-signed.js';
import { seededRandom } from 'holdfast/internal/simulate/seeded-random.js';
import { makeClients, makeH2Clients, type BenchClient, type BenchRequest } from '../fixtures/clients.js';

export interface RaceOptions {
  requests: number;
  idleMs: number;
  /** FIN and request crossing in flight: one-way latency modelled by the upstream. */
  raceWindowMs: number;
  seed: number;
  modes: string[];
  clients?: string[];
}

export interface ClientResult {
  client: string;
  mode: string;
  requests: number;
  failedGets: number;
  failedPostsNoKey: number;
  failedPostsKeyed: number;
  /** POSTs without a key that the caller saw fail although the server applied them. */
  postsFailedButApplied: number;
  /** POSTs without a key that reached the server more than once (sent twice, applied or not). */
  postsSentTwice: number;
  /** POSTs the server applied more than once. */
  duplicatePosts: number;
  /** Requests the server dropped unanswered (the race). */
  serverDropped: number;
  p50Ms: number;
  p99Ms: number;
}

/** Each fault mode of the flaky upstream, sized to the idle time `idleMs`. */
export function faultModes(idleMs: number, raceWindowMs: number): Record<string, FlakyFaults> {
  const idle = { idleCloseMs: idleMs, raceWindowMs };
  return {
    'idle-fin': { ...idle },
    'idle-rst': { ...idle, closeWith: 'rst' },
    'idle-advertised': { ...idle, advertise: true },
    // Issue 20's modes. A restart: idle connections closed, connects refused a while.
    restart: { refuse: { everyMs: idleMs * 3, forMs: Math.max(20, Math.round(idleMs / 4)) } },
    slow: { slowMs: Math.round(idleMs / 5) },
    '429-retry-after': { status: { code: 429, count: 1, period: 5, retryAfter: '1' } },
    '503-burst': { status: { code: 503, count: 3, period: 20 } },
    // A middlebox forgets idle flows at the idle time: no FIN, no reset, no answer (no race:
    // a packet after that moment is simply lost).
    'silent-drop': { idleCloseMs: idleMs, silentDrop: true },
    'apply-then-reset': { applyThenReset: 7 },
    '408-idle': { ...idle, idle408: true },
    'close-after-3': { closeAfterResponses: 3 },
    'reset-mid-upload': { resetMidUpload: 5 },
    'cut-mid-body': { cutMidBody: 7 },
  };
}

/** The HTTP/2 modes, run by the clients that speak HTTP/2 (bench/fixtures/h2-flaky-server.ts). */
export function h2Modes(idleMs: number, raceWindowMs: number): Record<string, H2Faults> {
  return {
    'h2-goaway-idle': { mode: 'goaway-idle', idleMs, raceWindowMs },
    'h2-goaway-load': { mode: 'goaway-load', idleMs, every: 5 },
    'h2-silent-drop': { mode: 'silent-drop', idleMs },
  };
}

/** What a race needs of its upstream: FlakyServer, or H2FlakyServer for the HTTP/2 modes. */
interface RaceServer {
  readonly url: string;
  stats(): FlakyStats;
  close(): Promise<void>;
}

interface Step { gapMs: number; req: BenchRequest; kind: 'get' | 'post' | 'post-keyed' }

export function schedule(options: RaceOptions): Step[] {
  const random = seededRandom(options.seed); // every client gets the same schedule
  return Array.from({ length: options.requests }, (_, i) => {
    const roll = random();
    const kind = roll < 0.5 ? 'get' : roll < 0.75 ? 'post' : 'post-keyed';
    const id = `r${i}`;
    const headers: Record<string, string> = { 'x-request-id': id };
    if (kind === 'post-keyed') headers['idempotency-key'] = id;
    if (kind !== 'get') headers['content-type'] = 'application/json';
    // Gaps of idle × [0.95, 1.05): half land before the server's close, some in the race window, some after.
    const gapMs = Math.round(options.idleMs * (0.95 + random() * 0.1));
    return { gapMs, kind, req: { method: kind === 'get' ? 'GET' : 'POST', path: `/items/${i}`, headers, body: kind === 'get' ? undefined : `{"n":${i}}` } };
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A request not answered in this long counts as failed (a silent drop hangs most clients for good). */
const GIVE_UP_MS = 10_000;

/** The client's answer, or a rejection after GIVE_UP_MS; the timer never outlives the race. */
async function sendBounded(client: BenchClient, url: string, req: BenchRequest): Promise<number> {
  const giveUp = new AbortController();
  try {
    return await Promise.race([client.send(url, req), sleep(GIVE_UP_MS, undefined, { signal: giveUp.signal }).then(() => Promise.reject(new Error(`no answer in ${GIVE_UP_MS} ms`)))]);
  } finally {
    giveUp.abort();
  }
}

async function runClient(client: BenchClient, mode: string, start: () => Promise<RaceServer>, steps: Step[]): Promise<ClientResult> {
  const name = client.name;
  const server = await start();
  const failed = { get: 0, post: 0, 'post-keyed': 0 };
  const failedPostIds: string[] = [];
  const latencies: number[] = [];
  try {
    for (const step of steps) {
      await sleep(step.gapMs);
      const started = performance.now();
      let ok = false;
      try {
        const status = await sendBounded(client, server.url, step.req);
        ok = status >= 200 && status < 300;
      } catch {
        ok = false;
      }
      latencies.push(performance.now() - started);
      if (!ok) {
        failed[step.kind]++;
        if (step.kind === 'post') failedPostIds.push(step.req.headers['x-request-id']!);
      }
    }
    const stats = server.stats();
    latencies.sort((a, b) => a - b);
    const postIds = new Set(steps.filter((s) => s.kind !== 'get').map((s) => s.req.headers['x-request-id']!));
    return {
      client: name, mode, requests: steps.length,
      failedGets: failed.get, failedPostsNoKey: failed.post, failedPostsKeyed: failed['post-keyed'],
      postsFailedButApplied: failedPostIds.filter((id) => (stats.processedById[id] ?? 0) > 0).length,
      postsSentTwice: steps.filter((s) => s.kind === 'post' && (stats.receivedById[s.req.headers['x-request-id']!] ?? 0) > 1).length,
      duplicatePosts: [...postIds].filter((id) => (stats.processedById[id] ?? 0) > 1).length,
      serverDropped: stats.dropped,
      p50Ms: Math.round(percentile(latencies, 50) * 10) / 10,
      p99Ms: Math.round(percentile(latencies, 99) * 10) / 10,
    };
  } finally {
    // The server first: its close ends any request a silent drop left hanging, which a
    // client's own close (undici's waits for requests in flight) would wait on for good.
    await server.close();
    await client.close();
  }
}

/** Runs every mode; within a mode all clients run at once, each against its own upstream. */
export async function runKeepaliveRace(options: RaceOptions, progress: (line: string) => void = () => {}): Promise<ClientResult[]> {
  const steps = schedule(options);
  const modes = faultModes(options.idleMs, options.raceWindowMs);
  const h2 = h2Modes(options.idleMs, options.raceWindowMs);
  const results: ClientResult[] = [];
  for (const mode of options.modes) {
    const faults = modes[mode];
    const h2Faults = h2[mode];
    if (faults === undefined && h2Faults === undefined) throw new Error(`unknown mode ${mode}; known: ${[...Object.keys(modes), ...Object.keys(h2)].join(', ')}`);
    const tls = h2Faults === undefined ? undefined : selfSigned();
    const clients = tls === undefined ? makeClients(options.clients) : makeH2Clients(tls.cert, options.clients);
    const start = tls === undefined ? () => FlakyServer.start(faults!) : () => H2FlakyServer.start(h2Faults!, tls);
    progress(`mode ${mode}: ${steps.length} requests × ${clients.length} clients…`);
    results.push(...await Promise.all(clients.map((client) => runClient(client, mode, start, steps))));
  }
  return results;
}

export function formatTable(results: ClientResult[]): string {
  const header = '| mode | client | failed GET | failed POST (no key) | failed POST (keyed) | POST failed but applied | POST (no key) sent twice | duplicate POSTs applied | server dropped | p50 ms | p99 ms |';
  const rule = '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  const rows = results.map((r) => `| ${r.mode} | ${r.client} | ${r.failedGets} | ${r.failedPostsNoKey} | ${r.failedPostsKeyed} | ${r.postsFailedButApplied} | ${r.postsSentTwice} | ${r.duplicatePosts} | ${r.serverDropped} | ${r.p50Ms} | ${r.p99Ms} |`);
  return [header, rule, ...rows].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean' }, requests: { type: 'string' }, idle: { type: 'string' }, 'race-window': { type: 'string' },
      seed: { type: 'string' }, modes: { type: 'string' }, clients: { type: 'string' }, json: { type: 'string' },
    },
  });
  const quick = values.quick === true;
  const idleMs = Number(values.idle ?? (quick ? 200 : 1000));
  const options: RaceOptions = {
    requests: Number(values.requests ?? (quick ? 12 : 40)),
    idleMs,
    raceWindowMs: Number(values['race-window'] ?? Math.round(idleMs / 40)),
    seed: Number(values.seed ?? 1),
    modes: values.modes?.split(',') ?? [...Object.keys(faultModes(idleMs, 0)), ...Object.keys(h2Modes(idleMs, 0))],
    clients: values.clients?.split(','),
  };
  console.log(`keepalive-race: ${JSON.stringify(options)}, node ${process.version}`);
  const results = await runKeepaliveRace(options, (line) => console.log(line));
  console.log(`\n${formatTable(results)}`);
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify({ options, node: process.version, results }, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
