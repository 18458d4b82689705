import type { Redis } from 'ioredis';
import type { Mutex } from 'redis-semaphore';
import { optionalPackage } from './optional-package.js';

export const DEFAULT_LOCK_TTL_MS = 15_000;

/** One holder at a time across every replica sharing the lock: the mirror's sync (who may talk to the instance now) and the proxy's ACME orders. */
export interface SyncLock {
  /**
   * Runs `work` holding the lock and returns its result, or returns `undefined` at once
   * when another holder has it. `work`'s signal aborts if the lock is lost.
   */
  tryRun<T>(work: (signal: AbortSignal) => Promise<T>): Promise<{ value: T } | undefined>;
}

/** One process: the embedded deployment. */
export class LocalLock implements SyncLock {
  #held = false;

  async tryRun<T>(work: (signal: AbortSignal) => Promise<T>): Promise<{ value: T } | undefined> {
    if (this.#held) return undefined;
    this.#held = true;
    try {
      return { value: await work(new AbortController().signal) };
    } finally {
      this.#held = false;
    }
  }
}

/**
 * redis-semaphore refreshes the lock from a timer and lets a failed refresh command
 * reject unhandled: with Redis gone mid-cycle, the holder's process crashed (issue 17).
 * Here a refresh that cannot reach Redis is a lost lock: the holder cannot prove it
 * still holds it, so its work stops (the library then calls onLockLost).
 */
let refreshSafeMutex: typeof Mutex | undefined;
/** The class, made at the first Redis lock: redis-semaphore is an optional peer of the client package. */
function refreshSafeMutexClass(): typeof Mutex {
  refreshSafeMutex ??= class extends optionalPackage<typeof import('redis-semaphore')>('redis-semaphore', 'a Redis lock').Mutex {
    protected override async _refresh(): Promise<boolean> {
      try {
        return await super._refresh();
      } catch {
        return false;
      }
    }
  };
  return refreshSafeMutex;
}

/**
 * A Redis mutex (redis-semaphore: atomic Lua acquire, refresh and release) with a TTL.
 * The holder refreshes it every ttl/3; a holder that dies stops refreshing, and the
 * lock expires after at most `ttlMs`, for another replica to take. A refresh that fails
 * (the lock taken over, or Redis unreachable) aborts the work's signal: the engine stops
 * writing, the lock is released (or left to expire), and the next tick tries again.
 */
export class RedisLock implements SyncLock {
  readonly #redis: Redis;
  readonly #key: string;
  readonly #ttlMs: number;

  constructor(redis: Redis, key: string, ttlMs = DEFAULT_LOCK_TTL_MS) {
    this.#redis = redis;
    this.#key = key;
    this.#ttlMs = ttlMs;
  }

  async tryRun<T>(work: (signal: AbortSignal) => Promise<T>): Promise<{ value: T } | undefined> {
    const lost = new AbortController();
    const mutex = new (refreshSafeMutexClass())(this.#redis, this.#key, {
      lockTimeout: this.#ttlMs,
      acquireAttemptsLimit: 1,
      refreshInterval: Math.max(100, Math.floor(this.#ttlMs / 3)),
      // Not a throw (the library's default, an unhandled error): stop the work; its progress is saved per page.
      onLockLost: (err) => lost.abort(err),
    });
    if (!(await mutex.tryAcquire())) return undefined;
    try {
      return { value: await work(lost.signal) };
    } finally {
      mutex.stopRefresh();
      await mutex.release().catch(() => {}); // expired or Redis away: the TTL frees it
    }
  }
}
