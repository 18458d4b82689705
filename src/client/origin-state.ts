import { KeepAliveAlignment, parseKeepAliveHint, type KeepAliveOptions } from '../policy/keep-alive.js';
import { RetryBudget } from '../policy/retry-budget.js';

/** Everything holdfast remembers about one origin, shared by its pool and its interceptors. */
export class OriginState {
  readonly origin: string;
  readonly keepAlive: KeepAliveAlignment;
  readonly retryBudget: RetryBudget;

  #lastHint: Buffer | string | undefined;

  constructor(origin: string, keepAlive: KeepAliveOptions, budget: { ratio: number; minConcurrent: number }) {
    this.origin = origin;
    this.keepAlive = new KeepAliveAlignment(keepAlive);
    this.retryBudget = new RetryBudget(budget);
  }

  /** Records a response's raw `Keep-Alive` value; parsed only when it differs from the last one. */
  observeHintBytes(value: Buffer | string | undefined): void {
    const last = this.#lastHint;
    if (value === last) return;
    if (value !== undefined && last !== undefined && typeof value !== 'string' && typeof last !== 'string' && value.equals(last)) return;
    // A copy: undici's header buffers may be views into memory it reuses.
    this.#lastHint = typeof value === 'string' || value === undefined ? value : Buffer.from(value);
    this.keepAlive.observeHint(parseKeepAliveHint(value === undefined ? undefined : String(value)));
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

  #lastRaw: string | undefined;
  #lastState: OriginState | undefined;

  get(origin: string | URL): OriginState {
    const raw = typeof origin === 'string' ? origin : origin.href;
    if (raw === this.#lastRaw) return this.#lastState!;
    const state = this.#lookup(raw, origin);
    this.#lastRaw = raw;
    this.#lastState = state;
    return state;
  }

  #lookup(raw: string, origin: string | URL): OriginState {
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
