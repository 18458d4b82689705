import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.js';
import { RequestAbortedError } from '../errors.js';
import type { LatencyEstimator } from '../policy/latency-estimator.js';
import { DeadlineQueue, type DeadlineEntry } from './deadline-queue.js';
import { RelayController } from './relay-controller.js';
import type { Controller, Dispatch, Handler, Interceptor, ParsedHeaders } from './handler.js';
import type { OriginRegistry } from './origin-state.js';
import { hasReplayableBody, isRetrySafe } from './request-facts.js';

/**
 * Hedging, for requests safe to repeat: when no response headers have arrived
 * after the origin's latency quantile (the hedge delay), a second attempt is sent.
 * The first to answer wins; the other is aborted. If one fails, the other may
 * still win; if both fail, the last failure goes up (to retry).
 *
 * A hedge goes out only when the origin's pool has room for it (`hasRoom`): a free
 * connection, or one it may still open, and nothing queued. A hedge that would wait in
 * the pool's queue starts behind the very requests it races, and on HTTP/1.1 the loser of
 * the race costs its connection: at saturation, hedging only adds load (bench/runners/overhead.ts
 * counts the requests slower than the hedge floor and the attempts sent).
 */
export function hedgeInterceptor(origins: OriginRegistry, clock: Clock, minDelayMs: number, hasRoom: (origin: string) => boolean): Interceptor {
  const queue = new DeadlineQueue(clock, { afterPendingIo: true }); // one timer for every pending hedge
  return (next) => (opts, handler) => {
    const latency = origins.get(opts.origin!).hedgeLatency;
    if (latency === undefined || !isRetrySafe(opts) || !hasReplayableBody(opts)) return next(opts, handler);
    const estimate = latency.estimate();
    if (estimate === undefined) return next(opts, new Recorder(handler, latency, clock));
    new Hedge(next, opts, handler, latency, clock, Math.max(minDelayMs, estimate), queue, hasRoom).start();
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

  onRequestStart(controller: Controller, context: unknown): void { this.#inner.onRequestStart?.(controller, context); }
  onResponseStarted(): void { this.#inner.onResponseStarted?.(); }
  onResponseStart(controller: Controller, statusCode: number, headers: ParsedHeaders, statusText?: string): void {
    if (statusCode >= 200) this.#latency.record(this.#clock.now() - this.#started);
    this.#inner.onResponseStart?.(controller, statusCode, headers, statusText);
  }
  onResponseData(controller: Controller, chunk: Buffer): void { this.#inner.onResponseData?.(controller, chunk); }
  onBodySent(chunk: Buffer): void { this.#inner.onBodySent?.(chunk); }
  onRequestSent(): void { this.#inner.onRequestSent?.(); }
  onResponseEnd(controller: Controller, trailers: ParsedHeaders): void { this.#inner.onResponseEnd?.(controller, trailers); }
  onResponseError(controller: Controller | null, err: Error): void { this.#inner.onResponseError?.(controller, err); }
  onRequestUpgrade(controller: Controller, statusCode: number, headers: ParsedHeaders, socket: Duplex): void { this.#inner.onRequestUpgrade?.(controller, statusCode, headers, socket); }
}

class Hedge extends RelayController implements DeadlineEntry {
  readonly #next: Dispatch;
  readonly #opts: Dispatcher.DispatchOptions;
  readonly #outer: Handler;
  readonly #latency: LatencyEstimator;
  readonly #clock: Clock;
  readonly #started: number;
  /** The first attempt, and the hedge once it goes out (never more than two). */
  #first: HedgeAttempt | undefined;
  #second: HedgeAttempt | undefined;
  #winner: HedgeAttempt | undefined;
  readonly #queue: DeadlineQueue;
  readonly #hasRoom: (origin: string) => boolean;
  #failed = 0;
  #done = false;
  readonly deadlineAt: number;
  prevDeadline: DeadlineEntry | undefined;
  nextDeadline: DeadlineEntry | undefined;
  queued = false;

  constructor(next: Dispatch, opts: Dispatcher.DispatchOptions, outer: Handler, latency: LatencyEstimator, clock: Clock, delayMs: number, queue: DeadlineQueue, hasRoom: (origin: string) => boolean) {
    super();
    this.#hasRoom = hasRoom;
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
    this.#outer.onRequestStart?.(this, null);
    if (this.#done) return;
    this.#launch();
    if (!this.#done && this.#winner === undefined) this.#queue.add(this);
  }

  /** The hedge delay passed with no answer: the second attempt goes out, if the pool has room for it. */
  expire(): void {
    if (this.#winner === undefined && !this.#done && this.#hasRoom(String(this.#opts.origin))) this.#launch();
  }

  #launch(): void {
    const attempt = new HedgeAttempt(this);
    if (this.#first === undefined) this.#first = attempt;
    else this.#second = attempt;
    try {
      this.#next(this.#opts, attempt);
    } catch (err) {
      attempt.onResponseError(null, err as Error);
    }
  }

  /** The caller aborted: every attempt is abandoned. (Hedge is the caller's controller across both attempts; it follows the winner's.) */
  protected onAbort(reason: Error): void {
    if (this.#done) return;
    this.#finish();
    this.#first?.abandon(reason);
    this.#second?.abandon(reason);
    this.#outer.onResponseError?.(this, reason);
  }

  #finish(): void {
    this.#done = true;
    this.#queue.remove(this);
  }

  get outer(): Handler {
    return this.#outer;
  }

  /** An attempt's final headers: the first one wins, the others are aborted. */
  won(attempt: HedgeAttempt, controller: Controller): boolean {
    if (this.#winner !== undefined) return this.#winner === attempt;
    if (this.#done) return false;
    this.#winner = attempt;
    this.follow(controller);
    this.#queue.remove(this);
    this.#latency.record(this.#clock.now() - this.#started);
    // An abort, not a failure: the breaker must not count a lost race against the server.
    const other = attempt === this.#first ? this.#second : this.#first;
    other?.abandon(new RequestAbortedError({ cause: 'hedged attempt lost the race' }));
    return true;
  }

  ended(attempt: HedgeAttempt, trailers: ParsedHeaders): void {
    if (attempt !== this.#winner || this.#done) return;
    this.#finish();
    this.#outer.onResponseEnd?.(this, trailers);
  }

  failed(attempt: HedgeAttempt, err: Error): void {
    if (this.#done) return;
    if (attempt === this.#winner) {
      this.#finish();
      this.#outer.onResponseError?.(this, err);
      return;
    }
    this.#failed++;
    // A sibling still running may win. Otherwise the failure goes up to retry, which
    // decides with backoff and classification (a hedge is not a retry).
    if ((this.#second === undefined ? 1 : 2) - this.#failed > 0) return;
    this.#finish();
    this.#outer.onResponseError?.(this, err);
  }
}

class HedgeAttempt implements Handler {
  readonly #hedge: Hedge;
  #controller: Controller | undefined;
  #abandoned = false;

  constructor(hedge: Hedge) {
    this.#hedge = hedge;
  }

  abandon(reason: Error): void {
    if (this.#abandoned) return;
    this.#abandoned = true;
    this.#controller?.abort(reason);
  }

  onRequestStart(controller: Controller): void {
    this.#controller = controller;
    if (this.#abandoned) controller.abort(new RequestAbortedError({ cause: 'hedged attempt abandoned' }));
  }

  onResponseStart(controller: Controller, statusCode: number, headers: ParsedHeaders, statusText?: string): void {
    if (this.#abandoned || statusCode < 200) return;
    if (!this.#hedge.won(this, controller)) return;
    this.#hedge.outer.onResponseStart?.(this.#hedge, statusCode, headers, statusText);
  }

  onResponseData(_controller: Controller, chunk: Buffer): void {
    if (!this.#abandoned) this.#hedge.outer.onResponseData?.(this.#hedge, chunk);
  }

  onResponseEnd(_controller: Controller, trailers: ParsedHeaders): void {
    if (!this.#abandoned) this.#hedge.ended(this, trailers);
  }

  onResponseError(_controller: Controller | null, err: Error): void {
    if (this.#abandoned) return;
    this.#abandoned = true;
    this.#hedge.failed(this, err);
  }

  onRequestUpgrade(controller: Controller, statusCode: number, headers: ParsedHeaders, socket: Duplex): void {
    if (this.#abandoned || !this.#hedge.won(this, controller)) return;
    this.#hedge.outer.onRequestUpgrade?.(this.#hedge, statusCode, headers, socket);
  }
}
