import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { LineWatcher } from './line-watcher.js';

export const TEST_REDIS_URL = process.env.HOLDFAST_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Resolves with the URL of a reachable Redis, or skips the test with a one-line
 * notice naming what to install. With HOLDFAST_REQUIRE_ALL=1 (set by .ci/run) a
 * missing Redis fails the test instead, so CI always runs it.
 */
export async function redisOrSkip(t: { skip(message: string): void }): Promise<string | undefined> {
  const client = new Redis(TEST_REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
    return TEST_REDIS_URL;
  } catch {
    const message = `needs redis-server at ${TEST_REDIS_URL} (install it: apt-get install redis-server)`;
    if (process.env.HOLDFAST_REQUIRE_ALL === '1') throw new Error(`${message}; HOLDFAST_REQUIRE_ALL=1 makes this a failure`);
    t.skip(message);
    return undefined;
  } finally {
    client.disconnect();
  }
}

/** A key prefix no other test or process uses. */
export function uniquePrefix(name: string): string {
  return `holdfast-test:${name}:${process.pid}:${Date.now()}:${Math.random().toString(36).slice(2)}`;
}

/** A private redis-server on a free port, which a test may kill and restart. */
export interface PrivateRedis {
  url: string;
  kill(): Promise<void>;
  restart(): Promise<void>;
  /** SIGSTOP: commands reach its socket and wait there, unanswered (SIGKILL still ends it). */
  pause(): void;
}

/**
 * Starts a redis-server of the test's own on a free loopback port (no persistence), or
 * skips with a notice naming what to install (a failure under HOLDFAST_REQUIRE_ALL=1).
 */
export async function privateRedisOrSkip(t: { skip(message: string): void; after(fn: () => Promise<void>): void }): Promise<PrivateRedis | undefined> {
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    const message = 'needs redis-server (install it: apt-get install redis-server)';
    if (process.env.HOLDFAST_REQUIRE_ALL === '1') throw new Error(`${message}; HOLDFAST_REQUIRE_ALL=1 makes this a failure`);
    t.skip(message);
    return undefined;
  }
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as { port: number }).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  let child: ReturnType<typeof spawn> | undefined;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'inherit'] });
    await LineWatcher.of(child).waitFor(/Ready to accept connections/); // keeps reading its output after
  };
  const kill = async () => {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await once(child, 'close');
  };
  await start();
  t.after(kill);
  return { url: `redis://127.0.0.1:${port}`, kill, restart: start, pause: () => { child?.kill('SIGSTOP'); } };
}
