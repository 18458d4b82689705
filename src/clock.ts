/**
 * Injectable time. Policies read `now()`; waits go through `schedule()`, whose
 * timers are unref'd so that a pending backoff never keeps a process alive.
 * Tests pass a fake clock instead of sleeping.
 */
export interface Clock {
  /** Milliseconds, monotonic enough for durations. */
  now(): number;
  /** Calls `fn` after `ms`; returns a function that cancels the call. */
  schedule(fn: () => void, ms: number): () => void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  schedule(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};
