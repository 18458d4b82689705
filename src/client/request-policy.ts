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
