/**
 * A token bucket: `capacity` tokens at most, refilled continuously at
 * `refillPerSecond`. Pure: the caller passes the time in.
 *
 * @example
 * const bucket = new TokenBucket({ capacity: 10, refillPerSecond: 5 });
 * const waitMs = bucket.take(now); // 0: a token was taken; otherwise ms until one is due
 */
export class TokenBucket {
  readonly capacity: number;
  readonly refillPerSecond: number;
  #tokens: number;
  #at: number | undefined;

  constructor({ capacity, refillPerSecond }: { capacity: number; refillPerSecond: number }) {
    this.capacity = capacity;
    this.refillPerSecond = refillPerSecond;
    this.#tokens = capacity;
  }

  #refill(now: number): void {
    if (this.#at !== undefined) this.#tokens = Math.min(this.capacity, this.#tokens + ((now - this.#at) / 1000) * this.refillPerSecond);
    this.#at = now;
  }

  /** Tokens available now (fractional while refilling). */
  available(now: number): number {
    this.#refill(now);
    return this.#tokens;
  }

  /** Takes a token and returns 0, or takes nothing and returns the ms until a token is due. */
  take(now: number): number {
    this.#refill(now);
    if (this.#tokens >= 1) {
      this.#tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.#tokens) / this.refillPerSecond) * 1000);
  }
}
