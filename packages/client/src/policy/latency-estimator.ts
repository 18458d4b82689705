export const DEFAULT_LATENCY_WINDOW = 256;
export const DEFAULT_LATENCY_QUANTILE = 0.99;
export const DEFAULT_LATENCY_MIN_SAMPLES = 20;
/** The quantile is recomputed after a quarter of the window in new samples (at most this many), not on every read. */
const MAX_RECOMPUTE_EVERY = 64;

/**
 * A streaming latency quantile over the last `window` samples (a ring buffer),
 * recomputed every few samples. Pure: no clock, no I/O.
 *
 * @example
 * const latency = new LatencyEstimator({ quantile: 0.99 });
 * latency.record(12.5);
 * latency.estimate(); // undefined until `minSamples` are in
 */
export class LatencyEstimator {
  readonly quantile: number;
  readonly minSamples: number;
  readonly #samples: Float64Array;
  /** Reused for selection, so a recompute allocates nothing. */
  readonly #scratch: Float64Array;
  #count = 0;
  #next = 0;
  #sinceCompute = 0;
  #cached: number | undefined;
  readonly #recomputeEvery: number;

  constructor({ window = DEFAULT_LATENCY_WINDOW, quantile = DEFAULT_LATENCY_QUANTILE, minSamples = DEFAULT_LATENCY_MIN_SAMPLES } = {}) {
    this.#samples = new Float64Array(window);
    this.#scratch = new Float64Array(window);
    this.quantile = quantile;
    this.minSamples = minSamples;
    this.#recomputeEvery = Math.max(1, Math.min(MAX_RECOMPUTE_EVERY, Math.floor(window / 4)));
  }

  record(ms: number): void {
    this.#samples[this.#next] = ms;
    this.#next = (this.#next + 1) % this.#samples.length;
    this.#count = Math.min(this.#count + 1, this.#samples.length);
    this.#sinceCompute++;
  }

  /** The quantile of the recent samples in ms, or undefined while there are too few. */
  estimate(): number | undefined {
    if (this.#count < this.minSamples) return undefined;
    if (this.#cached === undefined || this.#sinceCompute >= this.#recomputeEvery) {
      this.#scratch.set(this.#samples.subarray(0, this.#count));
      this.#cached = select(this.#scratch, this.#count, Math.min(this.#count - 1, Math.floor(this.quantile * this.#count)));
      this.#sinceCompute = 0;
    }
    return this.#cached;
  }
}

/** The k-th smallest of the first `n` values (Hoare's quickselect, in place): O(n) on average, no full sort. */
function select(values: Float64Array, n: number, k: number): number {
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        const swap = values[i]!;
        values[i] = values[j]!;
        values[j] = swap;
        i++;
        j--;
      }
    }
    if (k <= j) hi = j;
    else if (k >= i) lo = i;
    else break;
  }
  return values[k]!;
}

/** The per-attempt timeout: `multiplier × estimate`, clamped; `maxMs` until the estimate exists. */
export function adaptiveTimeoutMs(estimate: number | undefined, { multiplier, minMs, maxMs }: { multiplier: number; minMs: number; maxMs: number }): number {
  if (estimate === undefined) return maxMs;
  return Math.round(Math.min(maxMs, Math.max(minMs, estimate * multiplier)));
}
