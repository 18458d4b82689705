import type { Clock, ClockTimer } from 'holdfast/internal/clock.js';

interface Timer {
  at: number;
  fn: () => void;
  ref: boolean;
  cancelled: boolean;
}

/**
 * A clock for tests. `advance(ms)` runs due timers in order. With
 * `autoAdvance`, waits that a caller is awaiting (`{ ref: true }`: retry
 * backoffs) run on the next turn as if their time had passed, so a test of
 * three retries takes microseconds; background timers (idle retirement) still
 * wait for `advance()`. Every requested wait is recorded in `waits`.
 */
export class FakeClock implements Clock {
  #now = 1_000_000;
  #timers: Timer[] = [];
  readonly waits: number[] = [];
  readonly #auto: boolean;
  #waitListeners: ((ms: number) => void)[] = [];
  #scheduleListeners: ((ms: number) => void)[] = [];

  constructor({ autoAdvance = false } = {}) {
    this.#auto = autoAdvance;
  }

  now(): number {
    return this.#now;
  }

  /** Wall time moves with now(), from 2026-01-01T00:00:00Z. */
  wallNow(): number {
    return Date.parse('2026-01-01T00:00:00Z') + this.#now;
  }

  schedule(fn: () => void, ms: number, options?: { ref?: boolean }): () => void {
    const timer: Timer = { at: this.#now + ms, fn, ref: options?.ref === true, cancelled: false };
    for (const listener of this.#scheduleListeners.splice(0)) listener(ms);
    if (timer.ref) {
      this.waits.push(ms);
      for (const listener of this.#waitListeners.splice(0)) listener(ms);
    }
    if (this.#auto && timer.ref) {
      setImmediate(() => {
        if (timer.cancelled) return;
        this.#now = Math.max(this.#now, timer.at);
        fn();
      });
    } else {
      this.#timers.push(timer);
    }
    return () => { timer.cancelled = true; };
  }

  timer(fn: () => void, ms: number, options?: { ref?: boolean }): ClockTimer {
    let cancel = this.schedule(fn, ms, options);
    return {
      refresh: () => { cancel(); cancel = this.schedule(fn, ms, options); },
      cancel: () => cancel(),
    };
  }

  /** Resolves when the next wait that a caller awaits (`{ ref: true }`) is scheduled, with its length. */
  nextWait(): Promise<number> {
    return new Promise((resolve) => this.#waitListeners.push(resolve));
  }

  /** Resolves when the next timer of any kind (background ones included) is set, with its length. */
  nextTimer(): Promise<number> {
    return new Promise((resolve) => this.#scheduleListeners.push(resolve));
  }

  /** Timers not yet run or cancelled. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const due = this.#timers.filter((t) => !t.cancelled && t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (due === undefined) break;
      due.cancelled = true;
      this.#now = due.at;
      due.fn();
    }
    this.#now = target;
    this.#timers = this.#timers.filter((t) => !t.cancelled);
  }
}
