import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.js';
import { DispatcherClosedError, QueueFullError, QueueTimeoutError, RateLimitedError } from '../errors.js';
import type { BulkheadRejection } from '../policy/bulkhead.js';
import { RelayController } from './relay-controller.js';
import type { Controller, Dispatch, Handler, Interceptor, ParsedHeaders } from './handler.js';
import type { OriginRegistry, OriginState } from './origin-state.js';

/**
 * Concurrency limit with a bounded FIFO queue, then a token-bucket rate limit,
 * per origin, for each attempt. A waiting request can be aborted (deadline,
 * signal) at once; a full queue, a queue timeout or a token beyond the allowed
 * wait fail fast with their own codes. Nothing waits silently forever.
 */
export function limitInterceptor(origins: OriginRegistry, clock: Clock, maxTokenWaitMs: number): Interceptor {
  return (next) => (opts, handler) => {
    const state = origins.get(opts.origin!);
    if (state.bulkhead === undefined && state.tokens === undefined) return next(opts, handler);
    new Gate(next, opts, handler, state, clock, maxTokenWaitMs).start();
    return true;
  };
}

/** Counts network attempts per origin (innermost, when metrics are on): everything that reaches the pool. */
export function attemptsInterceptor(origins: OriginRegistry): Interceptor {
  return (next) => (opts, handler) => {
    const state = origins.get(opts.origin!);
    state.telemetry.attempt(state.origin);
    return next(opts, handler);
  };
}

/** One request's way through the limits, and its handler once dispatched. */
class Gate extends RelayController implements Handler {
  readonly #next: Dispatch;
  readonly #opts: Dispatcher.DispatchOptions;
  readonly #inner: Handler;
  readonly #state: OriginState;
  readonly #clock: Clock;
  readonly #maxTokenWaitMs: number;
  #phase: 'queued' | 'waiting-token' | 'dispatched' | 'done' = 'queued';
  #cancel: (() => void) | undefined;
  #holdsSlot = false;
  /** An abort that came after dispatch but before undici's onRequestStart. */
  #pendingAbort: Error | undefined;
  readonly #queuedAt: number;

  constructor(next: Dispatch, opts: Dispatcher.DispatchOptions, inner: Handler, state: OriginState, clock: Clock, maxTokenWaitMs: number) {
    super();
    this.#next = next;
    this.#opts = opts;
    this.#inner = inner;
    this.#state = state;
    this.#clock = clock;
    this.#maxTokenWaitMs = maxTokenWaitMs;
    this.#queuedAt = clock.now();
  }

  #context() {
    return { origin: String(this.#opts.origin), method: this.#opts.method };
  }

  start(): void {
    // The caller can abort while the request waits here, before undici has it.
    this.#inner.onRequestStart?.(this, {});
    if (this.#phase === 'done') return;
    const bulkhead = this.#state.bulkhead;
    if (bulkhead === undefined) {
      this.#takeToken();
      return;
    }
    if (bulkhead.tryAcquire()) { // no closures for a request that does not wait
      this.#holdsSlot = true;
      this.#takeToken();
      return;
    }
    this.#cancel = bulkhead.acquire(() => {
      this.#holdsSlot = true;
      this.#takeToken();
    }, (reason) => this.#fail(this.#rejection(reason)));
  }

  #rejection(reason: BulkheadRejection): Error {
    switch (reason) {
      case 'queue-full':
        return new QueueFullError(this.#context());
      case 'queue-timeout':
        return new QueueTimeoutError(Math.round(this.#clock.now() - this.#queuedAt), this.#context());
      case 'closed':
        return new DispatcherClosedError(this.#context());
    }
  }

  #takeToken(): void {
    const tokens = this.#state.tokens;
    const answer = tokens === undefined ? 0 : tokens.take(this.#state.origin, this.#clock.now());
    if (typeof answer === 'number') this.#onToken(answer);
    else answer.then((waitMs) => this.#onToken(waitMs), (err: unknown) => { if (this.#phase !== 'done') this.#fail(err as Error); });
  }

  #onToken(waitMs: number): void {
    if (this.#phase === 'done') return; // aborted while a shared limit was asked
    if (waitMs === 0) {
      this.#dispatch();
      return;
    }
    this.#state.telemetry.tokenDenied(this.#state.origin);
    if (waitMs > this.#maxTokenWaitMs) {
      this.#fail(new RateLimitedError(waitMs, this.#context()));
    } else {
      this.#phase = 'waiting-token';
      this.#cancel = this.#clock.schedule(() => this.#takeToken(), waitMs, { ref: true });
    }
  }

  #dispatch(): void {
    this.#phase = 'dispatched';
    this.#cancel = undefined;
    try {
      this.#next(this.#opts, this);
    } catch (err) {
      this.onResponseError(null, err as Error);
    }
  }

  /** The caller aborted, queued or not. (Gate is the caller's controller from the start; it follows undici's once there is one.) */
  protected onAbort(reason: Error): void {
    if (this.#phase === 'dispatched') {
      const dispatched = this.followed;
      if (dispatched === null) this.#pendingAbort = reason;
      else dispatched.abort(reason);
      return;
    }
    if (this.#phase === 'done') return;
    this.#cancel?.();
    this.#fail(reason);
  }

  #release(): void {
    if (this.#holdsSlot) this.#state.bulkhead?.release();
    this.#holdsSlot = false;
    this.#phase = 'done';
  }

  #fail(err: Error): void {
    this.#release();
    this.#inner.onResponseError?.(this, err);
  }

  // ── once dispatched: forward, and free the slot at the end ─────────────────

  onRequestStart(controller: Controller): void {
    this.follow(controller);
    if (this.#pendingAbort !== undefined) controller.abort(this.#pendingAbort);
  }

  onResponseStarted(): void {
    this.#inner.onResponseStarted?.();
  }

  onResponseStart(_controller: Controller, statusCode: number, headers: ParsedHeaders, statusText?: string): void {
    this.#inner.onResponseStart?.(this, statusCode, headers, statusText);
  }

  onResponseData(_controller: Controller, chunk: Buffer): void {
    this.#inner.onResponseData?.(this, chunk);
  }

  onBodySent(chunk: Buffer): void {
    this.#inner.onBodySent?.(chunk);
  }

  onRequestSent(): void {
    this.#inner.onRequestSent?.();
  }

  onResponseEnd(_controller: Controller, trailers: ParsedHeaders): void {
    this.#release();
    this.#inner.onResponseEnd?.(this, trailers);
  }

  onResponseError(_controller: Controller | null, err: Error): void {
    if (this.#phase === 'done') return;
    this.#fail(err);
  }

  onRequestUpgrade(_controller: Controller, statusCode: number, headers: ParsedHeaders, socket: Duplex): void {
    this.#release();
    this.#inner.onRequestUpgrade?.(this, statusCode, headers, socket);
  }
}
