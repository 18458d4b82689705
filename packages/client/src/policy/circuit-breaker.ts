/**
 * Circuit breaker for one origin, as a pure state machine: the caller passes
 * the time in, and every transition is reported to `onTransition`.
 *
 *            failures ≥ consecutive, or ratio ≥ threshold over the window (min volume)
 *   closed ───────────────────────────────────────────────────────────▶ open
 *     ▲                                                                  │ openMs (× backoff
 *     │ probes' success ratio ≥ threshold                                │  per repeated trip)
 *     └──────────────── half-open ◀──────────────────────────────────────┘
 *                          │ probes' success ratio below it
 *                          └──────────────▶ open (longer)
 *   isolate() ─▶ isolated (rejects everything until reset())      reset() ─▶ closed
 *
 * Rejections are not outcomes: they never count as failures.
 */

export const DEFAULT_CONSECUTIVE_FAILURES = 5;
export const DEFAULT_FAILURE_RATIO = 0.5;
export const DEFAULT_RATIO_WINDOW_MS = 10_000;
export const DEFAULT_MINIMUM_VOLUME = 20;
export const DEFAULT_HALF_OPEN_PROBES = 3;
export const DEFAULT_HALF_OPEN_SUCCESS_RATIO = 2 / 3;
export const DEFAULT_OPEN_MS = 5_000;
export const DEFAULT_MAX_OPEN_MS = 60_000;
const WINDOW_BUCKETS = 10;

export interface CircuitBreakerOptions {
  consecutiveFailures?: number;
  failureRatio?: number;
  ratioWindowMs?: number;
  minimumVolume?: number;
  halfOpenProbes?: number;
  halfOpenSuccessRatio?: number;
  openMs?: number;
  maxOpenMs?: number;
}

export type BreakerState =
  | { readonly name: 'closed' }
  | { readonly name: 'open'; readonly until: number; readonly trips: number }
  | { readonly name: 'half-open'; readonly trips: number; readonly admitted: number; readonly successes: number; readonly failures: number }
  | { readonly name: 'isolated' };

export type BreakerStateName = BreakerState['name'];

/** The answer to "may a request go?": yes (maybe as a half-open probe), or no for `retryInMs`. */
export type Admission = { readonly allowed: true; readonly probe: boolean } | { readonly allowed: false; readonly retryInMs: number };

/** Sliding window of outcomes in `WINDOW_BUCKETS` buckets. */
class OutcomeWindow {
  readonly #bucketMs: number;
  readonly #failures = new Array<number>(WINDOW_BUCKETS).fill(0);
  readonly #totals = new Array<number>(WINDOW_BUCKETS).fill(0);
  #bucketStart = 0;
  #index = 0;

  constructor(windowMs: number) {
    this.#bucketMs = Math.max(1, windowMs / WINDOW_BUCKETS);
  }

  #advance(now: number): void {
    const steps = Math.floor((now - this.#bucketStart) / this.#bucketMs);
    if (steps <= 0) return;
    for (let i = 0; i < Math.min(steps, WINDOW_BUCKETS); i++) {
      this.#index = (this.#index + 1) % WINDOW_BUCKETS;
      this.#failures[this.#index] = 0;
      this.#totals[this.#index] = 0;
    }
    this.#bucketStart += steps * this.#bucketMs;
  }

  record(now: number, failed: boolean): void {
    this.#advance(now);
    this.#totals[this.#index]!++;
    if (failed) this.#failures[this.#index]!++;
  }

  counts(now: number): { total: number; failures: number } {
    this.#advance(now);
    let total = 0;
    let failures = 0;
    for (let i = 0; i < WINDOW_BUCKETS; i++) {
      total += this.#totals[i]!;
      failures += this.#failures[i]!;
    }
    return { total, failures };
  }

  clear(now: number): void {
    this.#failures.fill(0);
    this.#totals.fill(0);
    this.#bucketStart = now;
  }
}

/**
 * @example
 * const breaker = new CircuitBreaker({ consecutiveFailures: 3 }, (from, to) => log(from, to));
 * const admission = breaker.admit(now);
 * if (!admission.allowed) throw new CircuitOpenError(…);
 * …
 * breaker.record(now, { failed, probe: admission.probe });
 */
export class CircuitBreaker {
  readonly #opts: Required<CircuitBreakerOptions>;
  readonly #window: OutcomeWindow;
  readonly #onTransition: (from: BreakerState, to: BreakerState) => void;
  #state: BreakerState = { name: 'closed' };
  #consecutive = 0;

  constructor(options: CircuitBreakerOptions = {}, onTransition: (from: BreakerState, to: BreakerState) => void = () => {}) {
    this.#opts = {
      consecutiveFailures: options.consecutiveFailures ?? DEFAULT_CONSECUTIVE_FAILURES,
      failureRatio: options.failureRatio ?? DEFAULT_FAILURE_RATIO,
      ratioWindowMs: options.ratioWindowMs ?? DEFAULT_RATIO_WINDOW_MS,
      minimumVolume: options.minimumVolume ?? DEFAULT_MINIMUM_VOLUME,
      halfOpenProbes: options.halfOpenProbes ?? DEFAULT_HALF_OPEN_PROBES,
      halfOpenSuccessRatio: options.halfOpenSuccessRatio ?? DEFAULT_HALF_OPEN_SUCCESS_RATIO,
      openMs: options.openMs ?? DEFAULT_OPEN_MS,
      maxOpenMs: options.maxOpenMs ?? DEFAULT_MAX_OPEN_MS,
    };
    this.#window = new OutcomeWindow(this.#opts.ratioWindowMs);
    this.#onTransition = onTransition;
  }

  /** The current state; an open breaker whose time is up reads as half-open. */
  state(now: number): BreakerState {
    const state = this.#state;
    if (state.name === 'open' && now >= state.until) {
      this.#move({ name: 'half-open', trips: state.trips, admitted: 0, successes: 0, failures: 0 });
    }
    return this.#state;
  }

  admit(now: number): Admission {
    const state = this.state(now);
    switch (state.name) {
      case 'closed':
        return { allowed: true, probe: false };
      case 'open':
        return { allowed: false, retryInMs: state.until - now };
      case 'isolated':
        return { allowed: false, retryInMs: Number.POSITIVE_INFINITY };
      case 'half-open':
        if (state.admitted >= this.#opts.halfOpenProbes) return { allowed: false, retryInMs: 0 };
        this.#state = { ...state, admitted: state.admitted + 1 };
        return { allowed: true, probe: true };
    }
  }

  /** Records an admitted request's outcome. `neutral` (aborted, stale socket) only frees a probe slot. */
  record(now: number, outcome: { failed: boolean; probe: boolean; neutral?: boolean }): void {
    const state = this.state(now);
    if (state.name === 'half-open' && outcome.probe) {
      if (outcome.neutral === true) {
        this.#state = { ...state, admitted: state.admitted - 1 };
        return;
      }
      this.#judgeProbes({ ...state, successes: state.successes + (outcome.failed ? 0 : 1), failures: state.failures + (outcome.failed ? 1 : 0) }, now);
      return;
    }
    if (state.name !== 'closed' || outcome.neutral === true) return;
    this.#window.record(now, outcome.failed);
    this.#consecutive = outcome.failed ? this.#consecutive + 1 : 0;
    if (outcome.failed && this.#shouldTrip(now)) this.#trip(now, 1);
  }

  #shouldTrip(now: number): boolean {
    if (this.#consecutive >= this.#opts.consecutiveFailures) return true;
    const { total, failures } = this.#window.counts(now);
    return total >= this.#opts.minimumVolume && failures / total >= this.#opts.failureRatio;
  }

  #judgeProbes(state: Extract<BreakerState, { name: 'half-open' }>, now: number): void {
    const probes = this.#opts.halfOpenProbes;
    const needed = Math.ceil(probes * this.#opts.halfOpenSuccessRatio);
    // Close as soon as enough probes succeeded; re-open as soon as that became impossible.
    if (state.successes >= needed) this.#close(now);
    else if (state.failures > probes - needed) this.#trip(now, state.trips + 1);
    else this.#state = state;
  }

  #trip(now: number, trips: number): void {
    const openMs = Math.min(this.#opts.maxOpenMs, this.#opts.openMs * 2 ** (trips - 1));
    this.#move({ name: 'open', until: now + openMs, trips });
  }

  #close(now: number): void {
    this.#consecutive = 0;
    this.#window.clear(now);
    this.#move({ name: 'closed' });
  }

  /** Rejects every request until `reset()`: for maintenance, or an operator's call. */
  isolate(): void {
    this.#move({ name: 'isolated' });
  }

  /** Closes the breaker and forgets its history. */
  reset(now: number): void {
    this.#close(now);
  }

  #move(to: BreakerState): void {
    const from = this.#state;
    this.#state = to;
    if (from.name !== to.name || to.name === 'open') this.#onTransition(from, to);
  }
}
