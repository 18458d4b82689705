import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { Clock } from 'holdfast/internal/clock.js';
import { SharedRateLimit } from 'holdfast/internal/client/shared-rate-limit.js';
import { TokenBucket } from 'holdfast/internal/policy/token-bucket.js';
import { newRedis } from 'holdfast/internal/redis-client.js';
import type { RateLimitConfig } from '../config/rate-limit-config.js';
import { RateLimitedError } from 'holdfast/internal/errors.js';
import { ERROR_HEADER, errorBody } from './http-errors.js';

/** Local buckets kept at most; past it, full (idle) buckets are dropped first, then the oldest. */
const MAX_LOCAL_KEYS = 100_000;
const RATE_LIMITED_CODE = RateLimitedError.code;

/**
 * One HTTP route's per-client rate limit. A request takes a token from its client's bucket
 * (the key: the client's address, or a header's or cookie's value); without one it is
 * answered 429 with `Retry-After` and the `RateLimit-Policy` / `RateLimit` fields
 * (draft-ietf-httpapi-ratelimit-headers), before anything goes upstream.
 *
 * Local: a token bucket per key (policy/token-bucket.ts). With `redis`: the client's
 * SharedRateLimit (rate-limiter-flexible's RateLimiterRedis), shared by every instance (a
 * fixed window of `burst` requests per `burst / requestsPerSecond` seconds, the nearest a
 * shared atomic counter comes to a bucket), with a local limiter of the same budget while
 * Redis is away: requests are limited, never failed, by an outage.
 */
export class RouteRateLimit {
  readonly #route: string;
  readonly #config: RateLimitConfig;
  readonly #burst: number;
  readonly #windowS: number;
  readonly #clock: Clock;
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #shared: SharedRateLimit | undefined;
  readonly #redis: Redis | undefined;
  readonly #onLimited: (route: string) => void;

  constructor(route: string, config: RateLimitConfig, clock: Clock, onLimited: (route: string) => void) {
    this.#route = route;
    this.#config = config;
    this.#burst = config.burst ?? Math.max(1, Math.floor(config.requestsPerSecond));
    this.#windowS = Math.max(1, Math.ceil(this.#burst / config.requestsPerSecond));
    this.#clock = clock;
    this.#onLimited = onLimited;
    if (config.redis !== undefined) {
      // Commands wait for the first connection (a request right after start is counted in
      // Redis, not in this process alone); after it, they fail at once while Redis is away,
      // and the insurance limiter answers.
      const redis = newRedis(config.redis.url, { enableOfflineQueue: true, maxRetriesPerRequest: 1 });
      redis.once('ready', () => { redis.options.enableOfflineQueue = false; });
      redis.on('error', () => {}); // reconnects on its own; the insurance limiter covers the gap
      this.#redis = redis;
      this.#shared = new SharedRateLimit({ requestsPerSecond: config.requestsPerSecond, burst: this.#burst, client: redis, keyPrefix: `${config.redis.keyPrefix}${route}` });
    }
  }

  /** Serves the request (`serve`) if its client has a token; otherwise answers 429. */
  admit(req: IncomingMessage, clientIp: string, res: ServerResponse, serve: () => void): void {
    const key = this.#keyOf(req, clientIp);
    if (this.#shared === undefined) return this.#decide(this.#takeLocal(key), res, serve);
    // A failure past the insurance limiter lets the request through: the limit never fails a request.
    this.#shared.take(key).then((waitMs) => this.#decide(waitMs, res, serve), () => this.#decide(0, res, serve));
  }

  async close(): Promise<void> {
    await this.#shared?.close(); // not its connection's owner: that is closed here
    this.#redis?.disconnect();
  }

  #decide(waitMs: number, res: ServerResponse, serve: () => void): void {
    if (waitMs === 0) return serve();
    this.#onLimited(this.#route);
    const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
    const body = errorBody(429, RATE_LIMITED_CODE);
    res.writeHead(429, {
      'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store',
      'retry-after': String(retryAfter),
      'ratelimit-policy': `"${this.#route}";q=${this.#burst};w=${this.#windowS}`,
      ratelimit: `"${this.#route}";r=0;t=${retryAfter}`,
      [ERROR_HEADER]: RATE_LIMITED_CODE,
    });
    res.end(body);
  }

  #takeLocal(key: string): number {
    const now = this.#clock.now();
    let bucket = this.#buckets.get(key);
    if (bucket === undefined) {
      if (this.#buckets.size >= MAX_LOCAL_KEYS) this.#evict(now);
      bucket = new TokenBucket({ capacity: this.#burst, refillPerSecond: this.#config.requestsPerSecond });
      this.#buckets.set(key, bucket);
    }
    return bucket.take(now);
  }

  /** Drops full buckets (a client quiet long enough has lost nothing), then the oldest. */
  #evict(now: number): void {
    for (const [key, bucket] of this.#buckets) if (bucket.available(now) >= bucket.capacity) this.#buckets.delete(key);
    for (const key of this.#buckets.keys()) {
      if (this.#buckets.size < MAX_LOCAL_KEYS / 2) break;
      this.#buckets.delete(key);
    }
  }

  #keyOf(req: IncomingMessage, clientIp: string): string {
    const { key } = this.#config;
    if (key === 'client') return `ip:${clientIp}`;
    if ('header' in key) {
      const value = req.headers[key.header];
      return typeof value === 'string' && value !== '' ? `h:${value}` : `ip:${clientIp}`;
    }
    const value = cookieValue(req.headers.cookie, key.cookie);
    return value === undefined ? `ip:${clientIp}` : `c:${value}`;
  }
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq).trim() === name) return pair.slice(eq + 1).trim() || undefined;
  }
  return undefined;
}
