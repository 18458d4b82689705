import type { Clock } from '../clock.js';

/** An entry of the queue: the caller's object, linked in place (no allocation per request). */
export interface DeadlineEntry {
  /** Clock time at which `expire()` is due. */
  readonly deadlineAt: number;
  expire(): void;
  prevDeadline: DeadlineEntry | undefined;
  nextDeadline: DeadlineEntry | undefined;
  queued: boolean;
}

/**
 * Deadlines of one fixed duration on a monotonic clock expire in the order they
 * were added, so a FIFO list with one timer serves them all: O(1) add and remove,
 * instead of a timer created and cleared per request. Entries must be added in
 * non-decreasing `deadlineAt` order; other durations use their own timer.
 */
export class DeadlineQueue {
  readonly #clock: Clock;
  #head: DeadlineEntry | undefined;
  #tail: DeadlineEntry | undefined;
  #armed = false;

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  add(entry: DeadlineEntry): void {
    entry.queued = true;
    entry.prevDeadline = this.#tail;
    entry.nextDeadline = undefined;
    if (this.#tail === undefined) this.#head = entry;
    else this.#tail.nextDeadline = entry;
    this.#tail = entry;
    if (!this.#armed) this.#arm(entry.deadlineAt);
  }

  remove(entry: DeadlineEntry): void {
    if (!entry.queued) return;
    entry.queued = false;
    if (entry.prevDeadline === undefined) this.#head = entry.nextDeadline;
    else entry.prevDeadline.nextDeadline = entry.nextDeadline;
    if (entry.nextDeadline === undefined) this.#tail = entry.prevDeadline;
    else entry.nextDeadline.prevDeadline = entry.prevDeadline;
    entry.prevDeadline = undefined;
    entry.nextDeadline = undefined;
  }

  #arm(at: number): void {
    this.#armed = true;
    this.#clock.schedule(() => this.#fire(), Math.max(0, at - this.#clock.now()));
  }

  #fire(): void {
    this.#armed = false;
    const now = this.#clock.now();
    while (this.#head !== undefined && this.#head.deadlineAt <= now) {
      const entry = this.#head;
      this.remove(entry);
      entry.expire();
    }
    if (this.#head !== undefined) this.#arm(this.#head.deadlineAt);
  }
}
