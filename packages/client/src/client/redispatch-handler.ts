import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.js';
import { DeadlineExceededError } from '../errors.js';
import type { DeadlineEntry, DeadlineQueue } from './deadline-queue.js';
import { RelayController } from './relay-controller.js';
import type { Controller, Dispatch, Handler, ParsedHeaders } from './handler.js';

/** Try again: after `delayMs`, with `opts` (or the original options). */
export interface Redispatch {
  delayMs: number;
  opts?: Dispatcher.DispatchOptions;
  /** Whether only this attempt uses `opts`; later attempts go back to the original ones. */
  once?: boolean;
  /** Why (for traces): `replay`, or what the retry answers. */
  reason?: string;
}

/** What an interceptor decides at each point of a request that it may send again. */
export interface RedispatchPolicy {
  /** An attempt failed before its response was delivered: send again, or give up with an error. */
  onFailure(err: Error, attempts: number): Redispatch | Error;
  /** An attempt's final response started: discard it and send again, or `undefined` to deliver it. */
  onStatus?(statusCode: number, headers: ParsedHeaders, attempts: number): Redispatch | undefined;
  /**
   * How many bytes of a final response's body to hold back until it is complete, so that a
   * body cut off before then is sent again instead of failing the caller (0: none).
   */
  holdBodyBytes?(statusCode: number): number;
  /** The error given to the caller for a failure after delivery began, or for an abort. */
  finalError?(err: Error, attempts: number, aborted: boolean): Error;
  /** An attempt goes out: the first, a replay or a retry. */
  onAttempt?(attempt: number, reason: string): void;
  /** The request is over, delivered (with its status) or failed. Called once. */
  onSettled?(attempts: number, statusCode: number | undefined, error: Error | undefined): void;
}

/**
 * The one mechanism behind replay and retry, and the request's deadline (one handler per
 * request rather than one per concern: bench/runners/overhead.ts). The caller's handler sees a single
 * request with one controller from start to end, even across attempts, so that
 * an abort (a signal, a deadline) reaches whichever attempt or wait is current
 * at once, and pause, resume and the raw headers reach the attempt being
 * delivered. Events of an abandoned attempt are ignored.
 *
 *   start ─▶ attempt ─▶ headers ─▶ policy.onStatus ─┬─ deliver ─▶ complete
 *              ▲   │                                 └─ discard body ─┐
 *              │   └─▶ error ─▶ policy.onFailure ─┬─ give up ─▶ error  │
 *              └──────────── wait (delayMs) ◀─────┴────────────────────┘
 */
export class RedispatchHandler extends RelayController implements DeadlineEntry {
  readonly #dispatch: Dispatch;
  readonly #outer: Handler;
  readonly #policy: RedispatchPolicy;
  readonly #clock: Clock;
  #opts: Dispatcher.DispatchOptions;
  #phase: 'running' | 'waiting' | 'committed' | 'done' = 'running';
  #attempt: Attempt | undefined;
  #cancelWait: (() => void) | undefined;
  #attempts = 0;
  readonly #deadlineMs: number;
  readonly #deadlineQueue: DeadlineQueue | undefined;
  #cancelDeadline: (() => void) | undefined;
  readonly deadlineAt: number;
  prevDeadline: DeadlineEntry | undefined;
  nextDeadline: DeadlineEntry | undefined;
  queued = false;

  /**
   * `deadlineMs` (0: none), due at `deadlineAt`, covers every attempt and wait until the response
   * starts (then undici's body timeout governs), as Envoy's route timeout does. Default deadlines
   * share `deadlineQueue`; a request's own duration gets its own timer.
   */
  constructor(dispatch: Dispatch, opts: Dispatcher.DispatchOptions, outer: Handler, policy: RedispatchPolicy, clock: Clock, deadlineMs: number, deadlineAt: number, deadlineQueue: DeadlineQueue | undefined) {
    super();
    this.#dispatch = dispatch;
    this.#opts = opts;
    this.#outer = outer;
    this.#policy = policy;
    this.#clock = clock;
    this.#deadlineMs = deadlineMs;
    this.deadlineAt = deadlineAt;
    this.#deadlineQueue = deadlineQueue;
    if (deadlineMs === 0) return;
    if (deadlineQueue !== undefined) deadlineQueue.add(this);
    else this.#cancelDeadline = clock.schedule(() => this.expire(), deadlineMs);
  }

  /** Starts the first attempt. The caller's `onRequestStart` runs first, so an early abort wins. */
  start(): boolean {
    this.#outer.onRequestStart?.(this, null);
    if (this.#phase === 'done') return true;
    return this.#run(this.#opts, 'first');
  }

  /** The deadline passed before the response started. */
  expire(): void {
    this.abort(new DeadlineExceededError(this.#deadlineMs, { origin: String(this.#opts.origin), method: this.#opts.method }));
  }

  #stopDeadline(): void {
    if (this.queued) this.#deadlineQueue!.remove(this);
    if (this.#cancelDeadline === undefined) return;
    this.#cancelDeadline();
    this.#cancelDeadline = undefined;
  }

  #run(opts: Dispatcher.DispatchOptions, reason: string): boolean {
    this.#attempts++;
    this.#phase = 'running';
    this.#policy.onAttempt?.(this.#attempts, reason);
    const attempt = new Attempt(this);
    this.#attempt = attempt;
    try {
      return this.#dispatch(opts, attempt);
    } catch (err) {
      attempt.onResponseError(null, err as Error);
      return true;
    }
  }

  protected onAbort(reason: Error): void {
    if (this.#phase === 'done') return;
    this.#cancelWait?.();
    const attempt = this.#attempt;
    if (attempt !== undefined) {
      attempt.abandoned = true;
      attempt.controller?.abort(reason);
    }
    this.#fail(this.#policy.finalError?.(reason, this.#attempts, true) ?? reason);
  }

  #statusCode: number | undefined;

  #settle(error?: Error): void {
    this.#stopDeadline();
    this.#phase = 'done';
    this.#policy.onSettled?.(this.#attempts, this.#statusCode, error);
  }

  #fail(err: Error): void {
    this.#settle(err);
    this.#outer.onResponseError?.(this, err);
  }

  #again(next: Redispatch): void {
    this.#attempt = undefined;
    const opts = next.opts ?? this.#opts;
    if (next.opts !== undefined && next.once !== true) this.#opts = next.opts;
    this.#phase = 'waiting';
    const reason = next.reason ?? 'retry';
    // A replay goes at once; a retry waits on the clock even when its jitter drew 0 ms (one rule for every retry).
    if (reason === 'replay') {
      queueMicrotask(() => { if (this.#phase === 'waiting') this.#run(opts, reason); });
      return;
    }
    this.#cancelWait = this.#clock.schedule(() => {
      this.#cancelWait = undefined;
      if (this.#phase === 'waiting') this.#run(opts, reason);
    }, next.delayMs, { ref: true });
  }

  get outer(): Handler {
    return this.#outer;
  }

  status(statusCode: number, headers: ParsedHeaders): Redispatch | undefined {
    return this.#policy.onStatus?.(statusCode, headers, this.#attempts);
  }

  holdBodyBytes(statusCode: number): number {
    return this.#policy.holdBodyBytes?.(statusCode) ?? 0;
  }

  deliverHeaders(controller: Controller, statusCode: number, headers: ParsedHeaders, statusText: string | undefined): void {
    if (statusCode >= 200) {
      this.#phase = 'committed';
      this.#stopDeadline();
    }
    this.#statusCode = statusCode;
    this.follow(controller);
    this.#outer.onResponseStart?.(this, statusCode, headers, statusText);
  }

  deliverUpgrade(controller: Controller, statusCode: number, headers: ParsedHeaders, socket: Duplex): void {
    this.#statusCode = statusCode;
    this.#settle();
    this.follow(controller);
    this.#outer.onRequestUpgrade?.(this, statusCode, headers, socket);
  }

  deliverEnd(controller: Controller, trailers: ParsedHeaders): void {
    this.#settle();
    this.follow(controller);
    this.#outer.onResponseEnd?.(this, trailers);
  }

  retryAfterDiscard(next: Redispatch): void {
    this.#again(next);
  }

  failed(err: Error): void {
    if (this.#phase === 'committed') {
      this.#fail(this.#policy.finalError?.(err, this.#attempts, false) ?? err);
      return;
    }
    const next = this.#policy.onFailure(err, this.#attempts);
    if (next instanceof Error) this.#fail(next);
    else this.#again(next);
  }
}

/** A final response held back until its body is complete (RedispatchPolicy.holdBodyBytes). */
interface HeldResponse {
  controller: Controller;
  statusCode: number;
  headers: ParsedHeaders;
  statusText: string | undefined;
  chunks: Buffer[];
  bytes: number;
  limit: number;
}

/** One attempt's handler. It forwards to its parent until the parent abandons it. */
class Attempt implements Handler {
  readonly #parent: RedispatchHandler;
  controller: Controller | undefined;
  abandoned = false;
  #discard: Redispatch | undefined;
  #held: HeldResponse | undefined;

  constructor(parent: RedispatchHandler) {
    this.#parent = parent;
  }

  onRequestStart(controller: Controller): void {
    this.controller = controller;
    if (this.abandoned) controller.abort(this.#parent.reason ?? new Error('abandoned'));
    else this.#parent.follow(controller);
  }

  onResponseStarted(): void {
    if (!this.abandoned) this.#parent.outer.onResponseStarted?.();
  }

  onResponseStart(controller: Controller, statusCode: number, headers: ParsedHeaders, statusText?: string): void {
    if (this.abandoned) return;
    if (statusCode >= 200) this.#discard = this.#parent.status(statusCode, headers);
    if (this.#discard !== undefined) return;
    const limit = statusCode >= 200 ? this.#parent.holdBodyBytes(statusCode) : 0;
    if (limit > 0) this.#held = { controller, statusCode, headers, statusText, chunks: [], bytes: 0, limit };
    else this.#parent.deliverHeaders(controller, statusCode, headers, statusText);
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.abandoned || this.#discard !== undefined) return;
    const held = this.#held;
    if (held === undefined) {
      this.#parent.outer.onResponseData?.(this.#parent, chunk);
      return;
    }
    held.chunks.push(chunk);
    held.bytes += chunk.length;
    if (held.bytes > held.limit) this.#release(); // too large to hold: delivered from here on, as any body
  }

  /** Delivers a held response: its headers, then what arrived of its body. */
  #release(): void {
    const held = this.#held!;
    this.#held = undefined;
    this.#parent.deliverHeaders(held.controller, held.statusCode, held.headers, held.statusText);
    for (const chunk of held.chunks) this.#parent.outer.onResponseData?.(this.#parent, chunk);
  }

  onBodySent(chunk: Buffer): void {
    if (!this.abandoned) this.#parent.outer.onBodySent?.(chunk);
  }

  onRequestSent(): void {
    if (!this.abandoned) this.#parent.outer.onRequestSent?.();
  }

  onRequestUpgrade(controller: Controller, statusCode: number, headers: ParsedHeaders, socket: Duplex): void {
    if (!this.abandoned) this.#parent.deliverUpgrade(controller, statusCode, headers, socket);
  }

  onResponseEnd(controller: Controller, trailers: ParsedHeaders): void {
    if (this.abandoned) return;
    this.abandoned = true;
    if (this.#discard !== undefined) return this.#parent.retryAfterDiscard(this.#discard);
    if (this.#held !== undefined) this.#release();
    this.#parent.deliverEnd(controller, trailers);
  }

  onResponseError(_controller: Controller | null, err: Error): void {
    if (this.abandoned) return;
    this.abandoned = true;
    this.#parent.failed(err);
  }
}
