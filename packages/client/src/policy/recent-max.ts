/**
 * The largest sample of the last one to two periods: two buckets, the current one and the
 * one before, rotated each `periodMs`. Constant time and memory per sample, for a hot path
 * that needs "how slow has this been lately" and not a quantile. Pure: the caller passes the
 * time in.
 *
 * @example
 * const slowest = new RecentMax(60_000);
 * slowest.record(12, now);
 * slowest.value(now); // 12, until two periods have passed without a larger one
 */
export class RecentMax {
  readonly #periodMs: number;
  #current = 0;
  #previous = 0;
  #bucketStart = Number.NEGATIVE_INFINITY;

  constructor(periodMs: number) {
    this.#periodMs = periodMs;
  }

  #rotate(now: number): void {
    if (now - this.#bucketStart < this.#periodMs) return;
    // One period gone: the current bucket becomes the previous one. Two or more: both are stale.
    this.#previous = now - this.#bucketStart < 2 * this.#periodMs ? this.#current : 0;
    this.#current = 0;
    this.#bucketStart = now;
  }

  record(sample: number, now: number): void {
    this.#rotate(now);
    if (sample > this.#current) this.#current = sample;
  }

  /** The largest recent sample, or 0 when there is none. */
  value(now: number): number {
    this.#rotate(now);
    return Math.max(this.#current, this.#previous);
  }
}
