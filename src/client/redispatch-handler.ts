import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.js';
import type { Dispatch, Handler } from './handler.js';

/** Try again: after `delayMs`, with `opts` (or the original options). */
export interface Redispatch {
  delayMs: number;
  opts?: Dispatcher.DispatchOptions;
  /** Whether only this attempt uses `opts`; later attempts go back to the original ones. */
  once?: boolean;
}

/** What an interceptor decides at each point of a request that it may send again. */
export interface RedispatchPolicy {
  /** An attempt failed before its response was delivered: send again, or give up with an error. */
  onFailure(err: Error, attempts: number): Redispatch | Error;
  /** An attempt's final response started: discard it and send again, or `undefined` to deliver it. */
  onStatus?(statusCode: number, headers: Buffer[], attempts: number): Redispatch | undefined;
  /** The error given to the caller for a failure after delivery began, or for an abort. */
  finalError?(err: Error, attempts: number, aborted: boolean): Error;
  /** The request is over, delivered or failed. Called once. */
  onSettled?(): void;
}

/**
 * The one mechanism behind replay and retry. The caller's handler sees a single
 * request: one abort function from start to end, even across attempts, so that
 * an abort (a signal, a deadline) reaches whichever attempt or wait is current
 * at once. Events of an abandoned attempt are ignored.
 *
 *   start ─▶ attempt ─▶ headers ─▶ policy.onStatus ─┬─ deliver ─▶ complete
 *              ▲   │                                 └─ discard body ─┐
 *              │   └─▶ error ─▶ policy.onFailure ─┬─ give up ─▶ error  │
 *              └──────────── wait (delayMs) ◀─────┴────────────────────┘
 */
export class RedispatchHandler {
  readonly #dispatch: Dispatch;
  readonly #outer: Handler;
  readonly #policy: RedispatchPolicy;
  readonly #clock: Clock;
  #opts: Dispatcher.DispatchOptions;
  #phase: 'running' | 'waiting' | 'committed' | 'done' = 'running';
  #attempt: Attempt | undefined;
  #cancelWait: (() => void) | undefined;
  #attempts = 0;
  reason: Error | null = null;

  constructor(dispatch: Dispatch, opts: Dispatcher.DispatchOptions, outer: Handler, policy: RedispatchPolicy, clock: Clock) {
    this.#dispatch = dispatch;
    this.#opts = opts;
    this.#outer = outer;
    this.#policy = policy;
    this.#clock = clock;
  }

  /** Starts the first attempt. The caller's `onConnect` runs first, so an early abort wins. */
  start(): boolean {
    this.#outer.onConnect?.((reason?: Error) => this.#abort(reason ?? new Error('aborted')));
    if (this.#phase === 'done') return true;
    return this.#run(this.#opts);
  }

  #run(opts: Dispatcher.DispatchOptions): boolean {
    this.#attempts++;
    this.#phase = 'running';
    const attempt = new Attempt(this);
    this.#attempt = attempt;
    try {
      return this.#dispatch(opts, attempt);
    } catch (err) {
      attempt.onError(err as Error);
      return true;
    }
  }

  #abort(reason: Error): void {
    if (this.#phase === 'done') return;
    this.reason = reason;
    this.#cancelWait?.();
    const attempt = this.#attempt;
    if (attempt !== undefined) {
      attempt.abandoned = true;
      attempt.abort?.(reason);
    }
    this.#fail(this.#policy.finalError?.(reason, this.#attempts, true) ?? reason);
  }

  #settle(): void {
    this.#phase = 'done';
    this.#policy.onSettled?.();
  }

  #fail(err: Error): void {
    this.#settle();
    this.#outer.onError?.(err);
  }

  #again(next: Redispatch): void {
    this.#attempt = undefined;
    const opts = next.opts ?? this.#opts;
    if (next.opts !== undefined && next.once !== true) this.#opts = next.opts;
    this.#phase = 'waiting';
    if (next.delayMs <= 0) {
      queueMicrotask(() => { if (this.#phase === 'waiting') this.#run(opts); });
      return;
    }
    this.#cancelWait = this.#clock.schedule(() => {
      this.#cancelWait = undefined;
      if (this.#phase === 'waiting') this.#run(opts);
    }, next.delayMs, { ref: true });
  }

  // ── called by the current Attempt ─────────────────────────────────────────

  get outer(): Handler {
    return this.#outer;
  }

  status(statusCode: number, headers: Buffer[]): Redispatch | undefined {
    return this.#policy.onStatus?.(statusCode, headers, this.#attempts);
  }

  deliverHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode >= 200) this.#phase = 'committed';
    return this.#outer.onHeaders?.(statusCode, headers, resume, statusText) ?? true;
  }

  deliverUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: Duplex): void {
    this.#settle();
    this.#outer.onUpgrade?.(statusCode, headers, socket);
  }

  deliverComplete(trailers: string[] | Buffer[] | null): void {
    this.#settle();
    this.#outer.onComplete?.(trailers);
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

/** One attempt's handler. It forwards to its parent until the parent abandons it. */
class Attempt implements Handler {
  readonly #parent: RedispatchHandler;
  abort: ((err?: Error) => void) | undefined;
  abandoned = false;
  #discard: Redispatch | undefined;

  constructor(parent: RedispatchHandler) {
    this.#parent = parent;
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abort = abort;
    if (this.abandoned) abort(this.#parent.reason ?? new Error('abandoned'));
  }

  onResponseStarted(): void {
    if (!this.abandoned) this.#parent.outer.onResponseStarted?.();
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.abandoned) return true;
    if (statusCode >= 200) this.#discard = this.#parent.status(statusCode, headers);
    return this.#discard === undefined ? this.#parent.deliverHeaders(statusCode, headers, resume, statusText) : true;
  }

  onData(chunk: Buffer): boolean {
    if (this.abandoned || this.#discard !== undefined) return true;
    return this.#parent.outer.onData?.(chunk) ?? true;
  }

  onBodySent(chunkSize: number, totalBytesSent: number): void {
    if (!this.abandoned) this.#parent.outer.onBodySent?.(chunkSize, totalBytesSent);
  }

  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: Duplex): void {
    if (!this.abandoned) this.#parent.deliverUpgrade(statusCode, headers, socket);
  }

  onComplete(trailers: string[] | Buffer[] | null): void {
    if (this.abandoned) return;
    this.abandoned = true;
    if (this.#discard !== undefined) this.#parent.retryAfterDiscard(this.#discard);
    else this.#parent.deliverComplete(trailers);
  }

  onError(err: Error): void {
    if (this.abandoned) return;
    this.abandoned = true;
    this.#parent.failed(err);
  }
}
