import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.js';
import { RequestAbortedError } from '../errors.js';
import type { LatencyEstimator } from '../policy/latency-estimator.js';
import { DeadlineQueue, type DeadlineEntry } from './deadline-queue.js';
import type { Dispatch, Handler, Interceptor } from './handler.js';
import type { OriginRegistry } from './origin-state.js';
import { hasReplayableBody, isRetrySafe } from './request-facts.js';

/**
 * Hedging, for requests safe to repeat: when no response headers have arrived
 * after the origin's latency quantile (the hedge delay), a second attempt is sent.
 * The first to answer wins; the other is aborted. If one fails, the other may
 * still win; if both fail, the last failure goes up (to retry).
 */
export function hedgeInterceptor(origins: OriginRegistry, clock: Clock, minDelayMs: number): Interceptor {
  const queue = new DeadlineQueue(clock, { afterPendingIo: true }); // one timer for every pending hedge
  return (next) => (opts, handler) => {
    const latency = origins.get(opts.origin!).hedgeLatency;
    if (latency === undefined || !isRetrySafe(opts) || !hasReplayableBody(opts)) return next(opts, handler);
    const estimate = latency.estimate();
    if (estimate === undefined) return next(opts, new Recorder(handler, latency, clock));
    new Hedge(next, opts, handler, latency, clock, Math.max(minDelayMs, estimate), queue).start();
    return true;
  };
}

/** Until there is an estimate: forwards, and records time to headers. */
class Recorder implements Handler {
  readonly #inner: Handler;
  readonly #latency: LatencyEstimator;
  readonly #clock: Clock;
  readonly #started: number;

  constructor(inner: Handler, latency: LatencyEstimator, clock: Clock) {
    this.#inner = inner;
    this.#latency = latency;
    this.#clock = clock;
    this.#started = clock.now();
  }

  onConnect(abort: (err?: Error) => void, context?: object): void { this.#inner.onConnect?.(abort, context); }
  onResponseStarted(): void { this.#inner.onResponseStarted?.(); }
  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode >= 200) this.#latency.record(this.#clock.now() - this.#started);
    return this.#inner.onHeaders?.(statusCode, headers, resume, statusText) ?? true;
  }
  onData(chunk: Buffer): boolean { return this.#inner.onData?.(chunk) ?? true; }
  onComplete(trailers: string[] | Buffer[] | null): void { this.#inner.onComplete?.(trailers); }
  onError(err: Error): void { this.#inner.onError?.(err); }
  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: Duplex): void { this.#inner.onUpgrade?.(statusCode, headers, socket); }
}

class Hedge implements DeadlineEntry {
  readonly #next: Dispatch;
  readonly #opts: Dispatcher.DispatchOptions;
  readonly #outer: Handler;
  readonly #latency: LatencyEstimator;
  readonly #clock: Clock;
  readonly #started: number;
  readonly #attempts: HedgeAttempt[] = [];
  #winner: HedgeAttempt | undefined;
  readonly #queue: DeadlineQueue;
  #failed = 0;
  #done = false;
  readonly deadlineAt: number;
  prevDeadline: DeadlineEntry | undefined;
  nextDeadline: DeadlineEntry | undefined;
  queued = false;

  constructor(next: Dispatch, opts: Dispatcher.DispatchOptions, outer: Handler, latency: LatencyEstimator, clock: Clock, delayMs: number, queue: DeadlineQueue) {
    this.#next = next;
    this.#opts = opts;
    this.#outer = outer;
    this.#latency = latency;
    this.#clock = clock;
    this.#started = clock.now();
    this.deadlineAt = this.#started + delayMs;
    this.#queue = queue;
  }

  start(): void {
    this.#outer.onConnect?.((reason?: Error) => this.#abortAll(reason ?? new Error('aborted')));
    if (this.#done) return;
    this.#launch();
    if (!this.#done && this.#winner === undefined) this.#queue.add(this);
  }

  /** The hedge delay passed with no answer: the second attempt goes out. */
  expire(): void {
    if (this.#winner === undefined && !this.#done) this.#launch();
  }

  #launch(): void {
    const attempt = new HedgeAttempt(this);
    this.#attempts.push(attempt);
    try {
      this.#next(this.#opts, attempt);
    } catch (err) {
      attempt.onError(err as Error);
    }
  }

  #abortAll(reason: Error): void {
    if (this.#done) return;
    this.#finish();
    for (const attempt of this.#attempts) attempt.abandon(reason);
    this.#outer.onError?.(reason);
  }

  #finish(): void {
    this.#done = true;
    this.#queue.remove(this);
  }

  get outer(): Handler {
    return this.#outer;
  }

  /** An attempt's final headers: the first one wins, the others are aborted. */
  won(attempt: HedgeAttempt): boolean {
    if (this.#winner !== undefined) return this.#winner === attempt;
    if (this.#done) return false;
    this.#winner = attempt;
    this.#queue.remove(this);
    this.#latency.record(this.#clock.now() - this.#started);
    // An abort, not a failure: the breaker must not count a lost race against the server.
    for (const other of this.#attempts) if (other !== attempt) other.abandon(new RequestAbortedError({ cause: 'hedged attempt lost the race' }));
    return true;
  }

  ended(attempt: HedgeAttempt, trailers: string[] | Buffer[] | null): void {
    if (attempt !== this.#winner || this.#done) return;
    this.#finish();
    this.#outer.onComplete?.(trailers);
  }

  failed(attempt: HedgeAttempt, err: Error): void {
    if (this.#done) return;
    if (attempt === this.#winner) {
      this.#finish();
      this.#outer.onError?.(err);
      return;
    }
    this.#failed++;
    // A sibling still running may win. Otherwise the failure goes up to retry, which
    // decides with backoff and classification (a hedge is not a retry).
    if (this.#attempts.length - this.#failed > 0) return;
    this.#finish();
    this.#outer.onError?.(err);
  }
}

class HedgeAttempt implements Handler {
  readonly #hedge: Hedge;
  #abort: ((err?: Error) => void) | undefined;
  #abandoned = false;

  constructor(hedge: Hedge) {
    this.#hedge = hedge;
  }

  abandon(reason: Error): void {
    if (this.#abandoned) return;
    this.#abandoned = true;
    this.#abort?.(reason);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.#abort = abort;
    if (this.#abandoned) abort(new RequestAbortedError({ cause: 'hedged attempt abandoned' }));
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    if (this.#abandoned) return true;
    if (statusCode < 200) return true;
    if (!this.#hedge.won(this)) return true;
    return this.#hedge.outer.onHeaders?.(statusCode, headers, resume, statusText) ?? true;
  }

  onData(chunk: Buffer): boolean {
    if (this.#abandoned) return true;
    return this.#hedge.outer.onData?.(chunk) ?? true;
  }

  onComplete(trailers: string[] | Buffer[] | null): void {
    if (!this.#abandoned) this.#hedge.ended(this, trailers);
  }

  onError(err: Error): void {
    if (this.#abandoned) return;
    this.#abandoned = true;
    this.#hedge.failed(this, err);
  }

  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: Duplex): void {
    if (this.#abandoned || !this.#hedge.won(this)) return;
    this.#hedge.outer.onUpgrade?.(statusCode, headers, socket);
  }
}
