import type { Clock } from 'holdfast/internal/clock.js';
import { TokenBucket } from 'holdfast/internal/policy/token-bucket.js';

const SWEEP_MS = 60_000;

/**
 * A token bucket per key (a client address), holding `perSecond` tokens and refilled at that
 * rate: the new-connections-per-second limit, for one process (connection-tracker.ts) or for
 * every worker of a supervisor (proxy/workers/limit-counts.ts). Full buckets carry no
 * information and are dropped every minute, or the map would grow with every address ever seen.
 */
export class RateBuckets {
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #clock: Clock;
  #cancelSweep: () => void;

  constructor(clock: Clock) {
    this.#clock = clock;
    const sweep = () => {
      this.#cancelSweep = clock.schedule(sweep, SWEEP_MS);
      const now = clock.now();
      for (const [key, bucket] of this.#buckets) if (bucket.available(now) >= bucket.capacity) this.#buckets.delete(key);
    };
    this.#cancelSweep = clock.schedule(sweep, SWEEP_MS);
  }

  /** Takes a token of `key`'s bucket (made, or remade at a new rate, as needed); false when none is left. */
  take(key: string, perSecond: number): boolean {
    let bucket = this.#buckets.get(key);
    if (bucket === undefined || bucket.refillPerSecond !== perSecond) {
      bucket = new TokenBucket({ capacity: perSecond, refillPerSecond: perSecond });
      this.#buckets.set(key, bucket);
    }
    return bucket.take(this.#clock.now()) === 0;
  }

  /** Keys with a bucket now. */
  get size(): number {
    return this.#buckets.size;
  }

  stop(): void {
    this.#cancelSweep();
  }
}

/** One fewer for `key`; the key goes once it reaches 0. */
export function decrement(counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 1) - 1;
  if (n <= 0) counts.delete(key);
  else counts.set(key, n);
}
