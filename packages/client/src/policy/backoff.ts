/** Milliseconds to wait before retry number `retry` (1 for the first retry). */
export type Backoff = (retry: number, random?: () => number) => number;

export const DEFAULT_BACKOFF_BASE_MS = 200;
export const DEFAULT_BACKOFF_MAX_MS = 10_000;

/**
 * Exponential backoff with full jitter: the wait is uniform in
 * `[0, min(maxMs, baseMs · 2^(retry−1)))`. Full jitter spreads retries of many
 * clients apart instead of synchronising them (AWS Architecture Blog,
 * "Exponential Backoff And Jitter"; Envoy's router uses the same rule).
 *
 * @example
 * const backoff = fullJitterBackoff({ baseMs: 100, maxMs: 5_000 });
 * backoff(3); // somewhere in [0, 400)
 */
export function fullJitterBackoff({
  baseMs = DEFAULT_BACKOFF_BASE_MS,
  maxMs = DEFAULT_BACKOFF_MAX_MS,
}: { baseMs?: number; maxMs?: number } = {}): Backoff {
  return (retry, random = Math.random) => {
    const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, retry - 1));
    return Math.floor(random() * ceiling);
  };
}
