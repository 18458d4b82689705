import { Redis } from 'ioredis';

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
