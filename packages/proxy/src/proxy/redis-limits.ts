import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Clock } from 'holdfast/internal/clock.js';
import type { LimitBroker, LimitName, SharedLimit } from '../net/connection-tracker.js';
import { newRedis } from 'holdfast/internal/redis-client.js';

/**
 * One more connection for a key, if the live instances' counts leave room: each instance counts
 * its own connections in a field of the key's hash, and a field whose instance stopped saying it
 * is alive (its key expired: the instance crashed) is dropped, so a dead instance's connections
 * stop counting. KEYS[1]: the hash; ARGV: instance, max, the alive keys' prefix.
 */
const ACQUIRE = `
local total = 0
local fields = redis.call('HGETALL', KEYS[1])
for i = 1, #fields, 2 do
  if redis.call('EXISTS', ARGV[3] .. fields[i]) == 1 then total = total + tonumber(fields[i + 1])
  else redis.call('HDEL', KEYS[1], fields[i]) end
end
if total >= tonumber(ARGV[2]) then return 0 end
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
return 1`;

const RELEASE = `
local n = redis.call('HINCRBY', KEYS[1], ARGV[1], -1)
if n <= 0 then redis.call('HDEL', KEYS[1], ARGV[1]) end
return n`;

export interface RedisLimitsConfig {
  url: string;
  keyPrefix: string;
  /** An instance that has not said it is alive for this long is taken for dead: its connections stop counting. */
  instanceTtlMs: number;
}

/**
 * The layer-4 connection limits over several proxy instances (and their workers), through one
 * Redis (`limits.redis`): the total, per client address (with rate-limiter-flexible for the rate
 * of new connections) and per route. Each process is an instance, alive while it renews its key
 * every third of `instanceTtlMs`. While Redis cannot answer, connections are let through on the
 * local limits alone (fail open: a proxy that stops serving when its shared store does would
 * turn a Redis outage into an outage of everything behind it), and that is logged once per
 * outage.
 */
export class RedisLimits implements LimitBroker {
  readonly instance = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  readonly #redis: Redis;
  readonly #config: RedisLimitsConfig;
  readonly #logger: Logger | undefined;
  readonly #rates = new Map<number, RateLimiterRedis>();
  /** Connections let through while Redis did not answer, by count key: not counted there, so not given back there. */
  readonly #uncounted = new Map<string, number>();
  /** Counted connections that closed while Redis did not answer. */
  readonly #unreleased: string[] = [];
  readonly #cancelHeartbeat: () => void;
  #failing = false;
  /** Redis has answered once: from then on, a connection lost is an outage. */
  #connected = false;

  constructor(config: RedisLimitsConfig, clock: Clock, logger?: Logger) {
    this.#config = config;
    this.#logger = logger;
    // Queued until the first connection (the first clients are not let through unasked), then fail fast.
    this.#redis = newRedis(config.url, { maxRetriesPerRequest: 1, enableOfflineQueue: true });
    this.#redis.once('ready', () => {
      this.#connected = true;
      this.#redis.options.enableOfflineQueue = false;
      logger?.info({ instance: this.instance }, 'shared limits: connected to Redis');
    });
    this.#redis.on('error', () => {}); // reconnects on its own; failures are counted where they bite
    this.#redis.defineCommand('holdfastAcquire', { numberOfKeys: 1, lua: ACQUIRE });
    this.#redis.defineCommand('holdfastRelease', { numberOfKeys: 1, lua: RELEASE });
    const beat = () => void this.#redis.set(this.#aliveKey, '1', 'PX', config.instanceTtlMs).catch(() => {});
    this.#redis.on('ready', () => {
      beat();
      for (const countKey of this.#unreleased.splice(0)) this.#release(countKey);
      this.#recovered(); // back after an outage: asked again from here on
    });
    let cancel = clock.schedule(function again() { beat(); cancel = clock.schedule(again, config.instanceTtlMs / 3); }, config.instanceTtlMs / 3);
    this.#cancelHeartbeat = () => cancel();
  }

  get #aliveKey(): string {
    return `${this.#config.keyPrefix}alive:${this.instance}`;
  }

  async acquire(kind: SharedLimit, key: string, max: number, ratePerSecond: number): Promise<LimitName | undefined> {
    try {
      // Connected once, and not now: let it through at once rather than wait on ioredis's
      // reconnects (seconds). Before the first connection, the command waits in ioredis's queue.
      if (this.#connected && this.#redis.status !== 'ready') throw new Error(`Redis is ${this.#redis.status}`);
      if (kind === 'per-ip' && !(await this.#rateAllows(key, ratePerSecond))) return 'rate-per-ip';
      const run = (this.#redis as unknown as { holdfastAcquire(key: string, ...args: (string | number)[]): Promise<number> }).holdfastAcquire;
      const granted = await run.call(this.#redis, this.#countKey(kind, key), this.instance, max, `${this.#config.keyPrefix}alive:`);
      return granted === 1 ? undefined : kind;
    } catch (err) {
      this.#failed(err as Error);
      const countKey = this.#countKey(kind, key);
      this.#uncounted.set(countKey, (this.#uncounted.get(countKey) ?? 0) + 1); // its release must not take from a counted one
      return undefined;
    }
  }

  release(kind: SharedLimit, key: string): void {
    const countKey = this.#countKey(kind, key);
    const uncounted = this.#uncounted.get(countKey) ?? 0;
    if (uncounted > 0) {
      if (uncounted === 1) this.#uncounted.delete(countKey);
      else this.#uncounted.set(countKey, uncounted - 1);
      return;
    }
    if (this.#connected && this.#redis.status !== 'ready') {
      this.#unreleased.push(countKey); // given back once Redis answers again
      return;
    }
    this.#release(countKey);
  }

  #release(countKey: string): void {
    const run = (this.#redis as unknown as { holdfastRelease(key: string, instance: string): Promise<number> }).holdfastRelease;
    run.call(this.#redis, countKey, this.instance).catch((err: unknown) => this.#failed(err as Error));
  }

  /** Stops renewing this instance; its key goes at once (its connections are closed by now). */
  async close(): Promise<void> {
    this.#cancelHeartbeat();
    await this.#redis.del(this.#aliveKey).catch(() => {});
    this.#redis.disconnect();
  }

  #countKey(kind: SharedLimit, key: string): string {
    return `${this.#config.keyPrefix}count:${kind}:${key}`;
  }

  async #rateAllows(ip: string, perSecond: number): Promise<boolean> {
    let limiter = this.#rates.get(perSecond);
    if (limiter === undefined) {
      limiter = new RateLimiterRedis({ storeClient: this.#redis, keyPrefix: `${this.#config.keyPrefix}rate:${perSecond}`, points: perSecond, duration: 1 });
      this.#rates.set(perSecond, limiter);
    }
    try {
      await limiter.consume(ip);
      return true;
    } catch (err) {
      if (err instanceof RateLimiterRes) return false;
      throw err;
    }
  }

  #failed(err: Error): void {
    if (this.#failing) return;
    this.#failing = true;
    this.#logger?.error({ err: err.message }, 'shared limits: Redis does not answer; each instance holds its own limits until it does');
  }

  #recovered(): void {
    if (!this.#failing) return;
    this.#failing = false;
    this.#logger?.info('shared limits: Redis answers again');
  }
}
