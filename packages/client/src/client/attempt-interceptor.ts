import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.js';
import { CircuitOpenError, DispatcherClosedError, QueueFullError, QueueTimeoutError, RateLimitedError, ResponseTimeoutError } from '../errors.js';
import type { BulkheadRejection } from '../policy/bulkhead.js';
import { adaptiveTimeoutMs } from '../policy/latency-estimator.js';
import { DeadlineQueue, type DeadlineEntry } from './deadline-queue.js';
import { RelayController } from './relay-controller.js';
import type { Controller, Dispatch, Handler, Interceptor, ParsedHeaders } from './handler.js';
import type { OriginRegistry, OriginState } from './origin-state.js';
import { classifyFailure } from './request-facts.js';

/** Failures that say nothing about the server's health: they only free a breaker's probe slot. */
const NEUTRAL = new Set(['stale', 'aborted', 'closed', 'invalid']);

export interface AttemptPolicies {
  /** Responses the circuit breaker counts as failures (when the breaker is on). */
  failureStatuses: ReadonlySet<number>;
  /** The longest a request waits for a rate-limit token before it fails with HF_ERR_RATE_LIMITED. */
  maxTokenWaitMs: number;
  /** The adaptive per-attempt timeout's bounds, when it is on. */
  adaptiveTimeout: { multiplier: number; minMs: number; maxMs: number } | undefined;
  /** Count each attempt that reaches the pool (metrics on). */
  countAttempts: boolean;
}

/**
 * Everything holdfast decides for each network attempt (below hedging and retry, so every
 * attempt, a replay, a retry or a hedge, passes here), in one layer with one object per
 * attempt rather than a handler object and a forwarding call per policy:
 *
 * 1. **Circuit breaker** per origin. An open breaker rejects at once with `HF_ERR_CIRCUIT_OPEN`,
 *    which retry never retries and the breaker never counts. Transport failures and
 *    `failureStatuses` count as failures; a stale socket or an abort counts as nothing.
 * 2. **Adaptive timeout.** The time allowed for response headers is `multiplier ×` the origin's
 *    recent latency quantile, clamped to `[minMs, maxMs]`, counted from the moment undici
 *    writes the attempt (a wait in the limits' queue is bounded by the queue timeout). An
 *    attempt over it is aborted with HF_ERR_RESPONSE_TIMEOUT, which retry sends again when the
 *    request is safe to repeat. Its own timer (one DeadlineQueue for every attempt): undici's
 *    headers timeout ticks about once a second, too coarse for 50 ms.
 * 3. **Concurrency limit** with a bounded FIFO queue, then a **token-bucket rate limit**, per
 *    origin. A waiting attempt can be aborted (deadline, signal) at once; a full queue, a queue
 *    timeout or a token beyond the allowed wait fail fast with their own codes. Nothing waits
 *    silently forever.
 * 4. **Attempts counted** (metrics on): whatever passes the limits reaches the pool.
 *
 * Installed only when one of them is on (create-dispatcher.ts).
 */
export function attemptInterceptor(origins: OriginRegistry, clock: Clock, policies: AttemptPolicies): Interceptor {
  const timeouts = policies.adaptiveTimeout === undefined ? undefined : new DeadlineQueue(clock, { afterPendingIo: true });
  return (next) => (opts, handler) => {
    const state = origins.get(opts.origin!);
    const breaker = state.breaker;
    if (breaker === undefined && state.bulkhead === undefined && state.tokens === undefined && state.latency === undefined) {
      if (policies.countAttempts) state.countAttempt(); // metrics alone: no layer of its own
      return next(opts, handler);
    }
    let probe = false;
    if (breaker !== undefined) {
      const admission = breaker.admit(clock.now());
      if (!admission.allowed) {
        handler.onResponseError?.(null, new CircuitOpenError(admission.retryInMs, { origin: String(opts.origin), method: opts.method }));
        return true;
      }
      probe = admission.probe;
    }
    new AttemptGate(next, opts, handler, state, clock, policies, probe, timeouts).start();
    return true;
  };
}

/**
 * One attempt's way through the policies, and its handler once dispatched. It is the caller's
 * controller from the start (the attempt can be aborted while it waits, before undici has it),
 * and follows undici's once there is one.
 */
class AttemptGate extends RelayController implements Handler, DeadlineEntry {
  readonly #next: Dispatch;
  readonly #opts: Dispatcher.DispatchOptions;
  readonly #inner: Handler;
  readonly #state: OriginState;
  readonly #clock: Clock;
  readonly #policies: AttemptPolicies;
  readonly #probe: boolean;
  readonly #timeouts: DeadlineQueue | undefined;
  #queuedAt = 0;
  #phase: 'queued' | 'waiting-token' | 'dispatched' | 'done' = 'queued';
  #cancel: (() => void) | undefined;
  #holdsSlot = false;
  /** The breaker has its verdict on this attempt (it takes one). */
  #judged = false;
  /** An abort that came after dispatch but before undici's onRequestStart. */
  #pendingAbort: Error | undefined;
  #timeoutMs = 0;
  #writtenAt = 0;
  deadlineAt = 0;
  prevDeadline: DeadlineEntry | undefined;
  nextDeadline: DeadlineEntry | undefined;
  queued = false;

  constructor(next: Dispatch, opts: Dispatcher.DispatchOptions, inner: Handler, state: OriginState, clock: Clock, policies: AttemptPolicies, probe: boolean, timeouts: DeadlineQueue | undefined) {
    super();
    this.#next = next;
    this.#opts = opts;
    this.#inner = inner;
    this.#state = state;
    this.#clock = clock;
    this.#policies = policies;
    this.#probe = probe;
    this.#timeouts = timeouts;
  }

  #context() {
    return { origin: String(this.#opts.origin), method: this.#opts.method };
  }

  start(): void {
    this.#inner.onRequestStart?.(this, null);
    if (this.#phase === 'done') return;
    const bulkhead = this.#state.bulkhead;
    if (bulkhead === undefined || bulkhead.tryAcquire()) { // no closures for an attempt that does not wait
      this.#holdsSlot = bulkhead !== undefined;
      this.#takeToken();
      return;
    }
    this.#queuedAt = this.#clock.now();
    this.#cancel = bulkhead.acquire(() => {
      this.#holdsSlot = true;
      this.#takeToken();
    }, (reason) => this.#fail(this.#rejection(reason)));
  }

  /** The adaptive timeout passed with no response headers. */
  expire(): void {
    this.abort(new ResponseTimeoutError(`no response headers within ${this.#timeoutMs} ms (adaptive timeout)`, this.#context()));
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
    if (waitMs > this.#policies.maxTokenWaitMs) {
      this.#fail(new RateLimitedError(waitMs, this.#context()));
    } else {
      this.#phase = 'waiting-token';
      this.#cancel = this.#clock.schedule(() => this.#takeToken(), waitMs, { ref: true });
    }
  }

  #dispatch(): void {
    this.#phase = 'dispatched';
    this.#cancel = undefined;
    if (this.#policies.countAttempts) this.#state.countAttempt();
    try {
      this.#next(this.#opts, this);
    } catch (err) {
      this.onResponseError(null, err as Error);
    }
  }

  /** The caller aborted (or the adaptive timeout did), queued or not. */
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

  /** The breaker's verdict, once per attempt. */
  #judge(failed: boolean, neutral: boolean, now?: number): void {
    if (this.#judged) return;
    this.#judged = true;
    this.#state.breaker?.record(now ?? this.#clock.now(), { failed, probe: this.#probe, neutral });
  }

  #release(): void {
    this.#timeouts?.remove(this);
    if (this.#holdsSlot) this.#state.bulkhead?.release();
    this.#holdsSlot = false;
    this.#phase = 'done';
  }

  #fail(err: Error): void {
    this.#release();
    const neutral = NEUTRAL.has(classifyFailure(err));
    this.#judge(!neutral, neutral);
    this.#inner.onResponseError?.(this, err);
  }

  // ── once dispatched: forward, and free the slot at the end ─────────────────

  /** undici writes the attempt: the adaptive timeout starts. */
  onRequestStart(controller: Controller): void {
    this.follow(controller);
    if (this.#pendingAbort !== undefined) {
      controller.abort(this.#pendingAbort);
      return;
    }
    const latency = this.#state.latency;
    if (this.#timeouts !== undefined && latency !== undefined) {
      this.#writtenAt = this.#clock.now();
      this.#timeoutMs = adaptiveTimeoutMs(latency.estimate(), this.#policies.adaptiveTimeout!);
      this.deadlineAt = this.#writtenAt + this.#timeoutMs;
      this.#timeouts.add(this);
    }
  }

  onResponseStarted(): void {
    this.#inner.onResponseStarted?.();
  }

  onResponseStart(_controller: Controller, statusCode: number, headers: ParsedHeaders, statusText?: string): void {
    if (statusCode >= 200) {
      const now = this.#clock.now();
      if (this.queued) {
        this.#timeouts!.remove(this);
        this.#state.latency!.record(now - this.#writtenAt);
      }
      this.#judge(this.#policies.failureStatuses.has(statusCode), false, now);
    }
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
    this.#judge(false, false);
    this.#inner.onRequestUpgrade?.(this, statusCode, headers, socket);
  }
}
