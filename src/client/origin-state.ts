import { KeepAliveAlignment, type KeepAliveOptions } from '../policy/keep-alive.js';
import { RetryBudget } from '../policy/retry-budget.js';

/** Everything holdfast remembers about one origin, shared by its pool and its interceptors. */
export class OriginState {
  readonly origin: string;
  readonly keepAlive: KeepAliveAlignment;
  readonly retryBudget: RetryBudget;

  constructor(origin: string, keepAlive: KeepAliveOptions, budget: { ratio: number; minConcurrent: number }) {
    this.origin = origin;
    this.keepAlive = new KeepAliveAlignment(keepAlive);
    this.retryBudget = new RetryBudget(budget);
  }
}

/** Lazily creates one `OriginState` per origin. */
export class OriginRegistry {
  readonly #states = new Map<string, OriginState>();
  readonly #keepAlive: KeepAliveOptions;
  readonly #budget: { ratio: number; minConcurrent: number };

  constructor(keepAlive: KeepAliveOptions, budget: { ratio: number; minConcurrent: number }) {
    this.#keepAlive = keepAlive;
    this.#budget = budget;
  }

  /** Keyed by the string the caller used as well, so the hot path skips URL parsing. */
  readonly #byRaw = new Map<string, OriginState>();

  get(origin: string | URL): OriginState {
    const raw = typeof origin === 'string' ? origin : origin.href;
    const cached = this.#byRaw.get(raw);
    if (cached !== undefined) return cached;
    const key = typeof origin === 'string' ? new URL(origin).origin : origin.origin;
    let state = this.#states.get(key);
    if (state === undefined) {
      state = new OriginState(key, this.#keepAlive, this.#budget);
      this.#states.set(key, state);
    }
    if (this.#byRaw.size < 10_000) this.#byRaw.set(raw, state);
    return state;
  }

  has(origin: string): boolean {
    return this.#states.has(new URL(origin).origin);
  }
}
