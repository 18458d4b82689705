import type { Clock } from 'holdfast/internal/clock.js';
import type { LimitName, SharedLimit } from '../../net/connection-tracker.js';
import { decrement, RateBuckets } from '../../net/rate-buckets.js';

/**
 * The connection limits of every worker, counted in the supervisor (the workers' LimitBroker,
 * worker-limits.ts, asks it over IPC): a connection counts against the total, its client's
 * address (with a token of the per-address rate) and its route, whichever worker holds it. What
 * a worker held is given back when it exits, crashed or not.
 */
export class LimitCounts {
  readonly #counts = new Map<string, number>();
  /** Per worker id: what it holds, by `kind key`. */
  readonly #byWorker = new Map<number, Map<string, number>>();
  readonly #rates: RateBuckets;

  constructor(clock: Clock) {
    this.#rates = new RateBuckets(clock);
  }

  /** The limit that refuses one more connection of `worker` for `key`, or undefined: then it is counted. */
  acquire(worker: number, kind: SharedLimit, key: string, max: number, ratePerSecond: number): LimitName | undefined {
    const id = `${kind} ${key}`;
    const count = this.#counts.get(id) ?? 0;
    if (count >= max) return kind;
    if (kind === 'per-ip' && !this.#rates.take(key, ratePerSecond)) return 'rate-per-ip';
    this.#counts.set(id, count + 1);
    let held = this.#byWorker.get(worker);
    if (held === undefined) this.#byWorker.set(worker, held = new Map());
    held.set(id, (held.get(id) ?? 0) + 1);
    return undefined;
  }

  release(worker: number, kind: SharedLimit, key: string): void {
    const id = `${kind} ${key}`;
    const held = this.#byWorker.get(worker);
    if (held === undefined || !held.has(id)) return; // not this worker's: nothing to give back
    decrement(held, id);
    decrement(this.#counts, id);
  }

  /** Gives back everything `worker` held (it exited). */
  releaseWorker(worker: number): void {
    const held = this.#byWorker.get(worker);
    if (held === undefined) return;
    this.#byWorker.delete(worker);
    for (const [id, n] of held) {
      const left = (this.#counts.get(id) ?? 0) - n;
      if (left <= 0) this.#counts.delete(id);
      else this.#counts.set(id, left);
    }
  }

  stop(): void {
    this.#rates.stop();
  }
}
