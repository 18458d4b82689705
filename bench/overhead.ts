/**
 * overhead: holdfast's dispatcher against a raw undici Pool, on loopback, 50
 * concurrent requests, small bodies, in the same run. Rounds alternate between
 * the two so that machine noise hits both alike; the medians are compared.
 *
 *   npm run bench:overhead
 *   options: --seconds S (per round, default 5) --rounds N (per client, default 5) --concurrency C (default 50) --json FILE
 */
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool, request, type Dispatcher } from 'undici';
import { createDispatcher } from '../src/index.js';

export interface OverheadOptions {
  durationMs: number;
  rounds: number;
  concurrency: number;
}

export interface OverheadResult {
  options: OverheadOptions;
  undiciPool: number[];
  holdfast: number[];
  undiciMedian: number;
  holdfastMedian: number;
  /** holdfast's requests per second as a share of raw undici's. */
  ratio: number;
}

async function measure(url: string, dispatcher: Dispatcher, { durationMs, concurrency }: OverheadOptions): Promise<number> {
  let done = 0;
  const until = performance.now() + durationMs;
  const loop = async () => {
    while (performance.now() < until) {
      const res = await request(url, { dispatcher });
      await res.body.dump();
      done++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, loop));
  return done / ((performance.now() - started) / 1000);
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;

export async function runOverhead(options: OverheadOptions, progress: (line: string) => void = () => {}): Promise<OverheadResult> {
  const server = fork(fileURLToPath(new URL('./hello-server.mjs', import.meta.url)), { stdio: 'inherit' });
  try {
    const [{ port }] = (await once(server, 'message')) as [{ port: number }];
    const url = `http://127.0.0.1:${port}/`;
    const pool = new Pool(url, { connections: options.concurrency });
    const holdfast = createDispatcher({ connections: options.concurrency });
    try {
      const warm = { ...options, durationMs: Math.min(1000, options.durationMs) };
      await measure(url, pool, warm);
      await measure(url, holdfast, warm);
      const result = { undiciPool: [] as number[], holdfast: [] as number[] };
      for (let round = 0; round < options.rounds; round++) {
        result.undiciPool.push(Math.round(await measure(url, pool, options)));
        result.holdfast.push(Math.round(await measure(url, holdfast, options)));
        progress(`round ${round + 1}: undici Pool ${result.undiciPool.at(-1)} req/s, holdfast ${result.holdfast.at(-1)} req/s`);
      }
      const undiciMedian = median(result.undiciPool);
      const holdfastMedian = median(result.holdfast);
      return { options, ...result, undiciMedian, holdfastMedian, ratio: Math.round((holdfastMedian / undiciMedian) * 1000) / 1000 };
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
  const { values } = parseArgs({ options: { seconds: { type: 'string' }, rounds: { type: 'string' }, concurrency: { type: 'string' }, json: { type: 'string' } } });
  const options: OverheadOptions = {
    durationMs: Number(values.seconds ?? 5) * 1000,
    rounds: Number(values.rounds ?? 5),
    concurrency: Number(values.concurrency ?? 50),
  };
  console.log(`overhead: ${JSON.stringify(options)}, node ${process.version}`);
  const result = await runOverhead(options, (line) => console.log(line));
  console.log('\n| client | median req/s | rounds |\n|---|---:|---|');
  console.log(`| undici Pool (raw) | ${result.undiciMedian} | ${result.undiciPool.join(', ')} |`);
  console.log(`| holdfast createDispatcher | ${result.holdfastMedian} | ${result.holdfast.join(', ')} |`);
  console.log(`\nholdfast: ${(result.ratio * 100).toFixed(1)}% of raw undici's requests per second (cost ${((1 - result.ratio) * 100).toFixed(1)}%)`);
  if (values.json !== undefined) writeFileSync(values.json, `${JSON.stringify({ node: process.version, ...result }, null, 2)}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
