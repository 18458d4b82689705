import type { Redis } from 'ioredis';
import { newRedis } from '../redis-client.js';
import type { RedisClient } from './peer-types.js';
import type { RateLimiterRedis } from 'rate-limiter-flexible';
import { optionalPackage } from '../optional-package.js';

export const DEFAULT_SHARED_RATE_LIMIT_PREFIX = 'holdfast:rate';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

export interface SharedRateLimitOptions {
  requestsPerSecond: number;
  /** Requests at once after a quiet spell: a window of `burst` per `burst / requestsPerSecond` s (default: one second's worth). */
  burst?: number;
  /** Redis to share the budget through: a URL (holdfast owns the connection) or a client you own. */
  url?: string;
  client?: RedisClient;
  /** Processes with the same prefix share one budget per origin. */
  keyPrefix?: string;
}

/** Takes one token for `key` now (0), or says how long until one is due (ms). */
export interface TokenSource {
  take(key: string, now: number): number | Promise<number>;
  close(): Promise<void>;
}

/**
 * A rate limit shared by every process that uses the same Redis and prefix, per
 * origin: the way several replicas share one upstream's quota. Built on
 * rate-limiter-flexible's RateLimiterRedis (an atomic Lua counter per fixed
 * window). If Redis is unreachable, an in-memory limiter with the same budget
 * takes over (its `insuranceLimiter`), so requests are paced, never failed, by a
 * Redis outage.
 */
export class SharedRateLimit implements TokenSource {
  readonly #limiter: RateLimiterRedis;
  readonly #rejection: typeof import('rate-limiter-flexible').RateLimiterRes;
  readonly #client: Redis;
  readonly #owned: boolean;

  constructor({ requestsPerSecond, burst, url = DEFAULT_REDIS_URL, client, keyPrefix = DEFAULT_SHARED_RATE_LIMIT_PREFIX }: SharedRateLimitOptions) {
    // Budgets below one request per second use a longer window with one point.
    const duration = burst !== undefined ? Math.max(1, Math.ceil(burst / requestsPerSecond)) : requestsPerSecond >= 1 ? 1 : Math.ceil(1 / requestsPerSecond);
    const points = burst ?? Math.max(1, Math.floor(requestsPerSecond * duration));
    // An optional peer of the client package, loaded when a shared rate limit is made (before any Redis client).
    const { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } = optionalPackage<typeof import('rate-limiter-flexible')>('rate-limiter-flexible', 'rateLimit.redis (a rate limit shared through Redis)');
    this.#rejection = RateLimiterRes;
    this.#owned = client === undefined;
    // enableOfflineQueue off: while Redis is away, calls fail at once and the insurance limiter answers.
    this.#client = (client as Redis | undefined) ?? newRedis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
    if (this.#owned) this.#client.on('error', () => {}); // reconnects on its own; the insurance limiter covers the gap
    this.#limiter = new RateLimiterRedis({
      storeClient: this.#client, keyPrefix, points, duration,
      insuranceLimiter: new RateLimiterMemory({ keyPrefix, points, duration }),
    });
  }

  async take(key: string): Promise<number> {
    try {
      await this.#limiter.consume(key, 1);
      return 0;
    } catch (rejection) {
      if (rejection instanceof this.#rejection) return Math.max(1, rejection.msBeforeNext);
      throw rejection;
    }
  }

  async close(): Promise<void> {
    if (this.#owned && this.#client.status !== 'end') await this.#client.quit().catch(() => this.#client.disconnect());
  }
}

/** The local token bucket as a token source. */
export class LocalTokens implements TokenSource {
  readonly #take: (now: number) => number;

  constructor(take: (now: number) => number) {
    this.#take = take;
  }

  take(_key: string, now: number): number {
    return this.#take(now);
  }

  async close(): Promise<void> {}
}
