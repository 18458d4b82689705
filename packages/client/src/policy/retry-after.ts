/**
 * Parses a `Retry-After` value (RFC 9110 §10.2.3): either delay-seconds or an
 * HTTP-date. Returns the wait in milliseconds (never negative), or `undefined`
 * when the value is absent or malformed, in which case the caller falls back
 * to its own backoff.
 *
 * @example
 * parseRetryAfter('2', Date.now());                               // 2000
 * parseRetryAfter('Wed, 21 Oct 2026 07:28:00 GMT', Date.now());  // ms until then, or 0
 */
export function parseRetryAfter(value: string | undefined, nowEpochMs: number): number | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed) * 1000;
  // An HTTP-date always names a weekday and "GMT"; Date.parse alone accepts far
  // looser input ("1", "2026"), so check the shape first.
  if (!/^[A-Za-z]{3},? .*\d{2}:\d{2}:\d{2} GMT$/.test(trimmed)) return undefined;
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowEpochMs);
}
