import type { Clock } from '../clock.js';

export type BulkheadRejection = 'queue-full' | 'queue-timeout' | 'closed';

interface Waiter {
  granted: () => void;
  rejected: (reason: BulkheadRejection) => void;
  cancelTimer: (() => void) | undefined;
  queuedAt: number;
}

/**
 * At most `maxConcurrent` holders at once; up to `maxQueue` more wait in FIFO
 * order for at most `queueTimeoutMs`. A full queue and a timed-out wait are
 * rejections, never silent drops. Time comes from the injected clock.
 *
 * @example
 * const bulkhead = new Bulkhead({ maxConcurrent: 10, maxQueue: 100, queueTimeoutMs: 5000 }, clock);
 * const cancel = bulkhead.acquire(() => { …work…; bulkhead.release(); }, (reason) => fail(reason));
 */
export class Bulkhead {
  readonly maxConcurrent: number;
  readonly maxQueue: number;
  readonly queueTimeoutMs: number;
  readonly #clock: Clock;
  readonly #queue: Waiter[] = [];
  #active = 0;
  /** Called with each granted waiter's queue wait, in ms. */
  onWait: ((waitedMs: number) => void) | undefined;

  constructor({ maxConcurrent, maxQueue, queueTimeoutMs }: { maxConcurrent: number; maxQueue: number; queueTimeoutMs: number }, clock: Clock) {
    this.maxConcurrent = maxConcurrent;
    this.maxQueue = maxQueue;
    this.queueTimeoutMs = queueTimeoutMs;
    this.#clock = clock;
  }

  get active(): number {
    return this.#active;
  }

  get queued(): number {
    return this.#queue.length;
  }

  /** Takes a slot if one is free and nobody waits: the common case, without a callback. */
  tryAcquire(): boolean {
    if (this.#active >= this.maxConcurrent || this.#queue.length > 0) return false;
    this.#active++;
    return true;
  }

  /**
   * Calls `granted` now or once a slot frees, or `rejected` with the reason.
   * Returns a cancel function that removes a still-queued waiter (no callback then).
   */
  acquire(granted: () => void, rejected: (reason: BulkheadRejection) => void): () => void {
    if (this.#active < this.maxConcurrent && this.#queue.length === 0) {
      this.#active++;
      granted();
      return () => {};
    }
    if (this.#queue.length >= this.maxQueue) {
      rejected('queue-full');
      return () => {};
    }
    const waiter: Waiter = { granted, rejected, cancelTimer: undefined, queuedAt: this.#clock.now() };
    this.#queue.push(waiter);
    if (this.queueTimeoutMs > 0) {
      waiter.cancelTimer = this.#clock.schedule(() => {
        if (this.#remove(waiter)) rejected('queue-timeout');
      }, this.queueTimeoutMs, { ref: true });
    }
    return () => { this.#remove(waiter); };
  }

  #idle: (() => void)[] = [];

  /** Resolves once nothing is active or queued. */
  whenIdle(): Promise<void> {
    if (this.#active === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  release(): void {
    this.#active = Math.max(0, this.#active - 1);
    const next = this.#queue.shift();
    if (next === undefined) {
      if (this.#active === 0) for (const resolve of this.#idle.splice(0)) resolve();
      return;
    }
    next.cancelTimer?.();
    this.#active++;
    this.onWait?.(this.#clock.now() - next.queuedAt);
    next.granted();
  }

  /** Rejects every queued waiter, on shutdown. Returns how many there were. */
  rejectQueued(reason: BulkheadRejection = 'closed'): number {
    const waiters = this.#queue.splice(0);
    for (const waiter of waiters) {
      waiter.cancelTimer?.();
      waiter.rejected(reason);
    }
    return waiters.length;
  }

  #remove(waiter: Waiter): boolean {
    const index = this.#queue.indexOf(waiter);
    if (index === -1) return false;
    this.#queue.splice(index, 1);
    waiter.cancelTimer?.();
    return true;
  }
}
