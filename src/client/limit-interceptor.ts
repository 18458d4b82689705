import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.js';
import { DispatcherClosedError, QueueFullError, QueueTimeoutError, RateLimitedError } from '../errors.js';
import type { BulkheadRejection } from '../policy/bulkhead.js';
import type { Dispatch, Handler, Interceptor } from './handler.js';
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
class Gate implements Handler {
  readonly #next: Dispatch;
  readonly #opts: Dispatcher.DispatchOptions;
  readonly #inner: Handler;
  readonly #state: OriginState;
  readonly #clock: Clock;
  readonly #maxTokenWaitMs: number;
  #phase: 'queued' | 'waiting-token' | 'dispatched' | 'done' = 'queued';
  #cancel: (() => void) | undefined;
  #holdsSlot = false;
  #abortDispatched: ((err?: Error) => void) | undefined;
  /** An abort that came after dispatch but before undici's onConnect. */
  #pendingAbort: Error | undefined;
  readonly #queuedAt: number;

  constructor(next: Dispatch, opts: Dispatcher.DispatchOptions, inner: Handler, state: OriginState, clock: Clock, maxTokenWaitMs: number) {
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
    this.#inner.onConnect?.((reason?: Error) => this.#abort(reason ?? new Error('aborted')));
    if (this.#phase === 'done') return;
    const bulkhead = this.#state.bulkhead;
    if (bulkhead === undefined) {
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
      this.onError(err as Error);
    }
  }

  #abort(reason: Error): void {
    if (this.#phase === 'dispatched') {
      if (this.#abortDispatched === undefined) this.#pendingAbort = reason;
      else this.#abortDispatched(reason);
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
    this.#inner.onError?.(err);
  }

  // ── once dispatched: forward, and free the slot at the end ─────────────────

  onConnect(abort: (err?: Error) => void): void {
    this.#abortDispatched = abort;
    if (this.#pendingAbort !== undefined) abort(this.#pendingAbort);
  }

  onResponseStarted(): void {
    this.#inner.onResponseStarted?.();
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    return this.#inner.onHeaders?.(statusCode, headers, resume, statusText) ?? true;
  }

  onData(chunk: Buffer): boolean {
    return this.#inner.onData?.(chunk) ?? true;
  }

  onBodySent(chunkSize: number, totalBytesSent: number): void {
    this.#inner.onBodySent?.(chunkSize, totalBytesSent);
  }

  onComplete(trailers: string[] | Buffer[] | null): void {
    this.#release();
    this.#inner.onComplete?.(trailers);
  }

  onError(err: Error): void {
    if (this.#phase === 'done') return;
    this.#fail(err);
  }

  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: Duplex): void {
    this.#release();
    this.#inner.onUpgrade?.(statusCode, headers, socket);
  }
}
