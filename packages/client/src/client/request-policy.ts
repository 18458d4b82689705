/**
 * Per-request holdfast settings, passed as `holdfast` in undici's request or
 * dispatch options: `request(url, { dispatcher, holdfast: { deadlineMs: 2000 } })`.
 */
export interface RequestPolicy {
  /** Overall deadline for this request, in ms, over every attempt and wait. */
  deadlineMs?: number;
  /** `false` turns retries off for this request (stale-socket replay still applies). */
  retry?: boolean;
  /**
   * Declares whether sending this request twice is harmless, overriding the
   * method and `Idempotency-Key` rule.
   */
  idempotent?: boolean;
  /**
   * Called as each attempt of this request starts: `attempt` counts from 1, `reason` is
   * `first`, `replay` (a stale keep-alive socket, replayed at once on a fresh one) or the
   * retry's reason (`connect`, `status 503`, …). What a proxy's access log counts per request.
   */
  onAttempt?: (attempt: number, reason: string) => void;
}

declare module 'undici' {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Dispatcher {
    interface DispatchOptions {
      /** holdfast's per-request settings. */
      holdfast?: RequestPolicy;
    }
  }
}
