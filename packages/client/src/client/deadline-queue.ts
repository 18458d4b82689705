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
 * Deadlines kept in a list sorted by `deadlineAt`, with one timer for the earliest:
 * instead of a timer created and cleared per request. Deadlines of one duration
 * arrive in order, so an insert scanning back from the tail is O(1) in practice
 * (adaptive timeouts and hedge delays drift slowly, so nearly so); removal is O(1).
 *
 * With `afterPendingIo`, due entries expire only after the I/O that was already
 * waiting has been read (in a `setImmediate`, which runs after the loop's poll
 * phase). Timers run first in a loop turn: after the loop was blocked (a GC pause,
 * a CPU-bound callback) every deadline that passed meanwhile would otherwise fire
 * before the answers sitting in the sockets were seen, and hedge or time out
 * requests that had in fact been answered in time.
 */
export class DeadlineQueue {
  readonly #clock: Clock;
  #head: DeadlineEntry | undefined;
  #tail: DeadlineEntry | undefined;
  /** When the armed timer fires, or Infinity; a timer whose generation is stale does nothing. */
  #armedAt = Number.POSITIVE_INFINITY;
  #generation = 0;

  readonly #afterPendingIo: boolean;

  constructor(clock: Clock, { afterPendingIo = false }: { afterPendingIo?: boolean } = {}) {
    this.#clock = clock;
    this.#afterPendingIo = afterPendingIo;
  }

  add(entry: DeadlineEntry): void {
    entry.queued = true;
    let after = this.#tail;
    while (after !== undefined && after.deadlineAt > entry.deadlineAt) after = after.prevDeadline;
    entry.prevDeadline = after;
    entry.nextDeadline = after === undefined ? this.#head : after.nextDeadline;
    if (after === undefined) this.#head = entry;
    else after.nextDeadline = entry;
    if (entry.nextDeadline === undefined) this.#tail = entry;
    else entry.nextDeadline.prevDeadline = entry;
    if (entry.deadlineAt < this.#armedAt) this.#arm(entry.deadlineAt);
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
    const generation = ++this.#generation;
    this.#armedAt = at;
    const fire = () => { if (generation === this.#generation) this.#fire(); };
    this.#clock.schedule(this.#afterPendingIo ? () => setImmediate(fire) : fire, Math.max(0, at - this.#clock.now()));
  }

  #fire(): void {
    this.#armedAt = Number.POSITIVE_INFINITY;
    const now = this.#clock.now();
    while (this.#head !== undefined && this.#head.deadlineAt <= now) {
      const entry = this.#head;
      this.remove(entry);
      entry.expire();
    }
    if (this.#head !== undefined) this.#arm(this.#head.deadlineAt);
  }
}
