import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.js';

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
  /** An attempt's response started: discard it and send again, or `undefined` to deliver it. */
  onStatus?(statusCode: number, headers: Headers, attempts: number): Redispatch | undefined;
  /** The error given to the caller for a failure after delivery began, or for an abort. */
  finalError?(err: Error, attempts: number, aborted: boolean): Error;
  /** The request is over, delivered or failed. Called once. */
  onSettled?(): void;
}

type Dispatch = Dispatcher['dispatch'];
type Headers = Record<string, string | string[] | undefined>;

/**
 * The one mechanism behind replay and retry. The caller's handler sees a single
 * request: one controller from start to end, even across attempts, so that an
 * abort (a signal, a deadline) reaches whichever attempt or wait is current at
 * once. Events of an abandoned attempt are ignored.
 *
 *   start ─▶ attempt ─▶ response start ─▶ policy.onStatus ─┬─ deliver ─▶ end
 *              ▲   │                                        └─ discard body ─┐
 *              │   └─▶ failure ─▶ policy.onFailure ─┬─ give up ─▶ error       │
 *              └──────────── wait (delayMs) ◀──────┴──────────────────────────┘
 */
export class RedispatchHandler implements Dispatcher.DispatchController {
  readonly #dispatch: Dispatch;
  readonly #outer: Dispatcher.DispatchHandler;
  readonly #policy: RedispatchPolicy;
  readonly #clock: Clock;
  #opts: Dispatcher.DispatchOptions;
  #phase: 'running' | 'waiting' | 'committed' | 'done' = 'running';
  #attempt: Attempt | undefined;
  #cancelWait: (() => void) | undefined;
  #attempts = 0;
  #reason: Error | null = null;

  constructor(dispatch: Dispatch, opts: Dispatcher.DispatchOptions, outer: Dispatcher.DispatchHandler, policy: RedispatchPolicy, clock: Clock) {
    this.#dispatch = dispatch;
    this.#opts = opts;
    this.#outer = outer;
    this.#policy = policy;
    this.#clock = clock;
  }

  // ── the caller's controller: one for the whole request, whatever attempt is current ──

  get controller(): Dispatcher.DispatchController {
    return this;
  }

  get aborted(): boolean {
    return this.#reason !== null;
  }

  get paused(): boolean {
    return this.#attempt?.controller?.paused ?? false;
  }

  get reason(): Error | null {
    return this.#reason;
  }

  abort(reason: Error): void {
    this.#abort(reason);
  }

  pause(): void {
    this.#attempt?.controller?.pause();
  }

  resume(): void {
    this.#attempt?.controller?.resume();
  }

  /** Starts the first attempt. The caller's `onRequestStart` runs first, so an early abort wins. */
  start(): boolean {
    this.#outer.onRequestStart?.(this.controller, {});
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
      attempt.onResponseError(undefined, err as Error);
      return true;
    }
  }

  #abort(reason: Error): void {
    if (this.#phase === 'done') return;
    this.#reason = reason;
    this.#cancelWait?.();
    const attempt = this.#attempt;
    if (attempt !== undefined) {
      attempt.abandoned = true;
      attempt.controller?.abort(reason);
    }
    this.#fail(this.#policy.finalError?.(reason, this.#attempts, true) ?? reason);
  }

  #settle(): void {
    this.#phase = 'done';
    this.#policy.onSettled?.();
  }

  #fail(err: Error): void {
    this.#settle();
    this.#outer.onResponseError?.(this.controller, err);
  }

  #again(next: Redispatch): void {
    this.#attempt = undefined;
    const opts = next.opts ?? this.#opts;
    if (next.opts !== undefined && next.once !== true) this.#opts = next.opts;
    if (next.delayMs <= 0) {
      this.#phase = 'waiting';
      queueMicrotask(() => { if (this.#phase === 'waiting') this.#run(opts); });
      return;
    }
    this.#phase = 'waiting';
    this.#cancelWait = this.#clock.schedule(() => {
      this.#cancelWait = undefined;
      if (this.#phase === 'waiting') this.#run(opts);
    }, next.delayMs, { ref: true });
  }

  // ── called by the current Attempt ─────────────────────────────────────────

  status(statusCode: number, headers: Headers): Redispatch | undefined {
    return this.#policy.onStatus?.(statusCode, headers, this.#attempts);
  }

  deliverStart(statusCode: number, headers: Headers, statusMessage?: string): void {
    this.#phase = 'committed';
    this.#outer.onResponseStart?.(this.controller, statusCode, headers, statusMessage);
  }

  deliverUpgrade(statusCode: number, headers: Headers, socket: import('node:stream').Duplex): void {
    this.#settle();
    this.#outer.onRequestUpgrade?.(this.controller, statusCode, headers, socket);
  }

  deliverData(chunk: Buffer): void {
    this.#outer.onResponseData?.(this.controller, chunk);
  }

  deliverEnd(trailers: Headers): void {
    this.#settle();
    this.#outer.onResponseEnd?.(this.controller, trailers);
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
class Attempt implements Dispatcher.DispatchHandler {
  readonly #parent: RedispatchHandler;
  controller: Dispatcher.DispatchController | undefined;
  abandoned = false;
  #discard: Redispatch | undefined;

  constructor(parent: RedispatchHandler) {
    this.#parent = parent;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.abandoned) controller.abort(this.#parent.controller.reason ?? new Error('abandoned'));
  }

  onRequestUpgrade(_c: Dispatcher.DispatchController, statusCode: number, headers: Headers, socket: import('node:stream').Duplex): void {
    if (!this.abandoned) this.#parent.deliverUpgrade(statusCode, headers, socket);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: Headers, statusMessage?: string): void {
    if (this.abandoned) return;
    this.#discard = this.#parent.status(statusCode, headers);
    if (this.#discard === undefined) this.#parent.deliverStart(statusCode, headers, statusMessage);
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.abandoned && this.#discard === undefined) this.#parent.deliverData(chunk);
  }

  onResponseEnd(_c: Dispatcher.DispatchController, trailers: Headers): void {
    if (this.abandoned) return;
    this.abandoned = true;
    if (this.#discard !== undefined) this.#parent.retryAfterDiscard(this.#discard);
    else this.#parent.deliverEnd(trailers);
  }

  onResponseError(_c: Dispatcher.DispatchController | undefined, err: Error): void {
    if (this.abandoned) return;
    this.abandoned = true;
    this.#parent.failed(err);
  }
}
