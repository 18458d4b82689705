export const DEFAULT_RETRY_BUDGET_RATIO = 0.2;
export const DEFAULT_RETRY_BUDGET_MIN_CONCURRENT = 3;

/**
 * Envoy-style retry budget for one origin: retries in flight may be at most
 * `ratio` of the requests in flight, but at least `minConcurrent` are always
 * allowed so that a quiet client can still retry. When an upstream fails
 * everything, retries stop growing with the load instead of multiplying it
 * (Envoy `retry_budget { budget_percent, min_retry_concurrency }`).
 *
 * @example
 * const budget = new RetryBudget({ ratio: 0.2, minConcurrent: 3 });
 * budget.requestStarted();
 * if (budget.tryAcquireRetry()) { …retry…; budget.releaseRetry(); }
 * budget.requestFinished();
 */
export class RetryBudget {
  readonly ratio: number;
  readonly minConcurrent: number;
  #active = 0;
  #retries = 0;

  constructor({ ratio = DEFAULT_RETRY_BUDGET_RATIO, minConcurrent = DEFAULT_RETRY_BUDGET_MIN_CONCURRENT } = {}) {
    this.ratio = ratio;
    this.minConcurrent = minConcurrent;
  }

  get active(): number {
    return this.#active;
  }

  get retriesInFlight(): number {
    return this.#retries;
  }

  requestStarted(): void {
    this.#active++;
  }

  requestFinished(): void {
    this.#active = Math.max(0, this.#active - 1);
  }

  /** Takes a retry slot if the budget allows one. Pair with `releaseRetry()`. */
  tryAcquireRetry(): boolean {
    const allowed = Math.max(this.minConcurrent, Math.floor(this.ratio * this.#active));
    if (this.#retries >= allowed) return false;
    this.#retries++;
    return true;
  }

  releaseRetry(): void {
    this.#retries = Math.max(0, this.#retries - 1);
  }
}
