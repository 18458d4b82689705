/**
 * overhead: holdfast's dispatcher against a raw undici Pool, on loopback, 50
 * concurrent requests, small bodies, in the same run. Rounds alternate between
 * the two so that machine noise hits both alike; the medians are compared.
 *
 *   npm run bench:overhead
 *   options: --seconds S (per client per round, default 3) --rounds N (default 10) --concurrency C (default 50)
 *            --all-policies (breaker, limits, rate limit, adaptive timeout, hedging and metrics on)
 *            --no-hedge (with --all-policies: all but hedging) --json FILE
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool, request, type Dispatcher } from 'undici';
import { createDispatcher } from 'holdfast';
import { DEFAULT_HEDGE_MIN_DELAY_MS } from 'holdfast/internal/client/options.js';

export interface OverheadOptions {
  durationMs: number;
  rounds: number;
  concurrency: number;
  /** Turn on every policy (breaker, limits, rate limit, adaptive timeout, hedging, metrics) to measure their cost too. */
  allPolicies?: boolean;
  /** With allPolicies: leave hedging off. */
  noHedge?: boolean;
}

export interface OverheadResult {
  options: OverheadOptions;
  undiciPool: number[];
  holdfast: number[];
  undiciMedian: number;
  holdfastMedian: number;
  /** Client CPU time per request, median over rounds, in µs: steadier than throughput on a noisy machine. */
  undiciCpuUs: number;
  holdfastCpuUs: number;
  /** holdfast's requests per second as a share of raw undici's: the median of the rounds' ratios. */
  ratio: number;
  /** With metrics on: network attempts beyond one per request (hedges, retries), from holdfast's own counters. */
  extraAttempts?: { requests: number; attempts: number };
  /**
   * Share of requests, over every round, whose headers took longer than hedging's floor
   * (DEFAULT_HEDGE_MIN_DELAY_MS): with hedging on, each such request may be sent twice, and
   * on HTTP/1.1 the loser of the race costs its connection.
   */
  undiciSlowShare: number;
  holdfastSlowShare: number;
}

interface Sample { rps: number; cpuUsPerRequest: number; requests: number; slow: number }

async function measure(url: string, dispatcher: Dispatcher, { durationMs, concurrency }: OverheadOptions): Promise<Sample> {
  let done = 0;
  let slow = 0;
  const cpu = process.cpuUsage();
  const until = performance.now() + durationMs;
  const loop = async () => {
    for (let sent = performance.now(); sent < until; sent = performance.now()) {
      const res = await request(url, { dispatcher });
      if (performance.now() - sent > DEFAULT_HEDGE_MIN_DELAY_MS) slow++;
      await res.body.dump();
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, loop));
  const used = process.cpuUsage(cpu);
  return { rps: done / ((performance.now() - started) / 1000), cpuUsPerRequest: (used.user + used.system) / done, requests: done, slow };
}

/** Sums holdfast's requests and attempts counters, when metrics are on. */
async function countAttempts(registry: { getMetricsAsJSON(): Promise<{ name: string; values: { value: number }[] }[]> } | undefined) {
  if (registry === undefined) return undefined;
  const metrics = await registry.getMetricsAsJSON();
  const sum = (name: string) => metrics.find((m) => m.name === name)?.values.reduce((total, v) => total + v.value, 0) ?? 0;
  return { requests: sum('holdfast_client_requests_total'), attempts: sum('holdfast_client_attempts_total') };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

export async function runOverhead(options: OverheadOptions, progress: (line: string) => void = () => {}): Promise<OverheadResult> {
  const server = fork(fileURLToPath(new URL('../fixtures/hello-server.mjs', import.meta.url)), { stdio: 'inherit' });
  try {
    const [{ port }] = (await once(server, 'message')) as [{ port: number }];
    const url = `http://127.0.0.1:${port}/`;
    const pool = new Pool(url, { connections: options.concurrency });
    const policies = options.allPolicies === true ? {
      breaker: true,
      limit: { maxConcurrent: options.concurrency * 2 },
      rateLimit: { requestsPerSecond: 1_000_000, burst: 1_000_000 },
      // A floor of 1 s: at full CPU saturation 3 × p99 is legitimately exceeded, and this bench measures cost.
      adaptiveTimeout: { minMs: 1000 },
      hedge: options.noHedge !== true,
      metrics: true,
    } : {};
    const holdfast = createDispatcher({ connections: options.concurrency, ...policies });
    try {
      // A round's length of warm-up each: Node's optimizing compilers are still at work after one
      // second under this load (on Node 26 a one-second warm-up left holdfast's first rounds at
      // 50-80% of its later speed), and that is start-up, not the cost per request.
      const warm = options;
      await measure(url, pool, warm);
      await measure(url, holdfast, warm);
      const result = { undiciPool: [] as number[], holdfast: [] as number[] };
      const ratios: number[] = [];
      const cpu = { u: [] as number[], h: [] as number[] };
      const tail = { u: { requests: 0, slow: 0 }, h: { requests: 0, slow: 0 } };
      for (let round = 0; round < options.rounds; round++) {
        // Each round measures both, back to back, in alternating order, so drift in the
        // machine's speed hits both alike; the ratio of a round's pair is what counts.
        const order = round % 2 === 0 ? [pool, holdfast] : [holdfast, pool];
        const [first, second] = [await measure(url, order[0]!, options), await measure(url, order[1]!, options)];
        const [u, h] = round % 2 === 0 ? [first, second] : [second, first];
        result.undiciPool.push(Math.round(u.rps));
        result.holdfast.push(Math.round(h.rps));
        ratios.push(h.rps / u.rps);
        cpu.u.push(u.cpuUsPerRequest);
        cpu.h.push(h.cpuUsPerRequest);
        tail.u.requests += u.requests;
        tail.u.slow += u.slow;
        tail.h.requests += h.requests;
        tail.h.slow += h.slow;
        progress(`round ${round + 1}: undici Pool ${Math.round(u.rps)} req/s ${u.cpuUsPerRequest.toFixed(1)} µs, holdfast ${Math.round(h.rps)} req/s ${h.cpuUsPerRequest.toFixed(1)} µs (${((h.rps / u.rps) * 100).toFixed(1)}%)`);
      }
      const undiciMedian = median(result.undiciPool);
      const holdfastMedian = median(result.holdfast);
      const round1 = (v: number) => Math.round(v * 10) / 10;
      return {
        options, ...result, undiciMedian, holdfastMedian, ratio: Math.round(median(ratios) * 1000) / 1000,
        undiciCpuUs: round1(median(cpu.u)), holdfastCpuUs: round1(median(cpu.h)),
        extraAttempts: await countAttempts(holdfast.metricsRegistry),
        undiciSlowShare: Math.round((tail.u.slow / tail.u.requests) * 1e5) / 1e5,
        holdfastSlowShare: Math.round((tail.h.slow / tail.h.requests) * 1e5) / 1e5,
      };
    } finally {
      await pool.close();
      await holdfast.close();
    }
  } finally {
    server.disconnect();
    await once(server, 'exit');
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, rounds: { type: 'string' }, concurrency: { type: 'string' }, json: { type: 'string' }, 'all-policies': { type: 'boolean' }, 'no-hedge': { type: 'boolean' } } });
  const options: OverheadOptions = {
    durationMs: Number(values.seconds ?? 3) * 1000,
    rounds: Number(values.rounds ?? 10),
    concurrency: Number(values.concurrency ?? 50),
    allPolicies: values['all-policies'] === true,
    noHedge: values['no-hedge'] === true,
  };
  console.log(`overhead: ${JSON.stringify(options)}, node ${process.version}`);
  const result = await runOverhead(options, (line) => console.log(line));
  console.log('\n| client | median req/s | client CPU per request | rounds (req/s) |\n|---|---:|---:|---|');
  console.log(`| undici Pool (raw) | ${result.undiciMedian} | ${result.undiciCpuUs} µs | ${result.undiciPool.join(', ')} |`);
  console.log(`| holdfast createDispatcher | ${result.holdfastMedian} | ${result.holdfastCpuUs} µs | ${result.holdfast.join(', ')} |`);
  console.log(`\nholdfast: ${(result.ratio * 100).toFixed(1)}% of raw undici's requests per second (cost ${((1 - result.ratio) * 100).toFixed(1)}%)`);
  const pct = (share: number) => `${(share * 100).toFixed(2)}%`;
  console.log(`requests whose headers took over ${DEFAULT_HEDGE_MIN_DELAY_MS} ms (hedging's floor): raw undici ${pct(result.undiciSlowShare)}, holdfast ${pct(result.holdfastSlowShare)}`);
  if (result.extraAttempts !== undefined) {
    const { requests, attempts } = result.extraAttempts;
    console.log(`holdfast sent ${attempts - requests} attempts beyond one per request, over ${requests} requests (hedges and retries)`);
  }
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify({ node: process.version, ...result }, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
