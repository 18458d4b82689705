import { performance } from 'node:perf_hooks';

/**
 * Injectable time. Policies read `now()`; waits go through `schedule()`.
 * Background timers (idle-socket retirement) are unref'd so that they never
 * keep a process alive; a wait that a caller is awaiting (a retry backoff)
 * passes `{ ref: true }`, or the process could exit under the caller's feet.
 * Tests pass a fake clock instead of sleeping.
 */
export interface Clock {
  /** Milliseconds, for durations (monotonic on the system clock). */
  now(): number;
  /** Milliseconds since the epoch, for calendar time: what a record's timestamp or a cycle number is made of. */
  wallNow(): number;
  /** Calls `fn` after `ms`; returns a function that cancels the call. */
  schedule(fn: () => void, ms: number, options?: { ref?: boolean }): () => void;
  /**
   * A timer that can be pushed back: `refresh()` starts its `ms` again from now, as Node's
   * `Timeout.refresh()` does, without a new timer. For per-connection timers (idle, lifetime,
   * half-close, connect) that must not cost an allocation each time they move.
   */
  timer(fn: () => void, ms: number, options?: { ref?: boolean }): ClockTimer;
}

export interface ClockTimer {
  /** Runs it `ms` from now, whether it had run, was pending or was cancelled. */
  refresh(): void;
  cancel(): void;
}

/** Node's own Timeout behind the ClockTimer interface: refresh() is Timeout.refresh(). */
class SystemTimer implements ClockTimer {
  readonly #timeout: NodeJS.Timeout;

  constructor(fn: () => void, ms: number, ref: boolean) {
    this.#timeout = setTimeout(fn, ms);
    if (!ref) this.#timeout.unref();
  }

  refresh(): void {
    this.#timeout.refresh();
  }

  cancel(): void {
    clearTimeout(this.#timeout);
  }
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  schedule(fn, ms, options) {
    const timer = setTimeout(fn, ms);
    if (options?.ref !== true) timer.unref();
    return () => clearTimeout(timer);
  },
  timer: (fn, ms, options) => new SystemTimer(fn, ms, options?.ref === true),
};

/**
 * Waits `ms` on `clock` (a ref'd timer: the caller is awaiting it); rejects with the
 * signal's reason as soon as `signal` aborts, and cancels the timer.
 */
export function delay(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted === true) return reject(signal.reason as Error);
    const onAbort = () => { cancel(); reject(signal!.reason as Error); };
    const cancel = clock.schedule(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, ms, { ref: true });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
