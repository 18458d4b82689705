import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.js';
import { DeadlineExceededError } from '../errors.js';
import type { Controller, Handler, Interceptor, ParsedHeaders } from './handler.js';
import { DeadlineQueue, type DeadlineEntry } from './deadline-queue.js';
import type { HoldfastDispatchOptions } from './request-facts.js';

/**
 * One deadline over every attempt and every wait between them, until the
 * response starts (after that, undici's body timeout governs the stream).
 * Envoy's route timeout has the same scope, "to avoid an exponential
 * retry/timeout explosion". Inner interceptors read the handler's `deadlineAt` so
 * that they never start a wait that would end past it.
 */
export function deadlineInterceptor(defaultMs: number | undefined, clock: Clock): Interceptor {
  // Default deadlines share one timer (DeadlineQueue); a request's own duration gets its own.
  const queue = new DeadlineQueue(clock);
  return (next) => (opts: HoldfastDispatchOptions, handler) => {
    const own = opts.holdfast?.deadlineMs;
    const ms = own ?? defaultMs;
    if (ms === undefined || ms <= 0) return next(opts, handler);
    return next(opts, new DeadlineHandler(handler, ms, clock, opts, own === undefined ? queue : undefined));
  };
}

class DeadlineHandler implements Handler, DeadlineEntry {
  readonly #inner: Handler;
  readonly #ms: number;
  readonly #clock: Clock;
  readonly #opts: Dispatcher.DispatchOptions;
  readonly #queue: DeadlineQueue | undefined;
  #controller: Controller | undefined;
  #cancel: (() => void) | undefined;
  readonly deadlineAt: number;
  prevDeadline: DeadlineEntry | undefined;
  nextDeadline: DeadlineEntry | undefined;
  queued = false;

  constructor(inner: Handler, ms: number, clock: Clock, opts: Dispatcher.DispatchOptions, queue: DeadlineQueue | undefined) {
    this.deadlineAt = clock.now() + ms;
    this.#inner = inner;
    this.#ms = ms;
    this.#clock = clock;
    this.#opts = opts;
    this.#queue = queue;
  }

  expire(): void {
    this.#controller?.abort(new DeadlineExceededError(this.#ms, { origin: String(this.#opts.origin), method: this.#opts.method }));
  }

  #stop(): void {
    this.#queue?.remove(this);
    this.#cancel?.();
    this.#cancel = undefined;
  }

  onRequestStart(controller: Controller, context: unknown): void {
    this.#stop();
    this.#controller = controller;
    if (this.#queue !== undefined) this.#queue.add(this);
    else this.#cancel = this.#clock.schedule(() => this.expire(), Math.max(0, this.deadlineAt - this.#clock.now()));
    this.#inner.onRequestStart?.(controller, context);
  }

  onResponseStarted(): void {
    this.#inner.onResponseStarted?.();
  }

  onResponseStart(controller: Controller, statusCode: number, headers: ParsedHeaders, statusText?: string): void {
    if (statusCode >= 200) this.#stop();
    this.#inner.onResponseStart?.(controller, statusCode, headers, statusText);
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    this.#inner.onResponseData?.(controller, chunk);
  }

  onBodySent(chunk: Buffer): void {
    this.#inner.onBodySent?.(chunk);
  }

  onRequestSent(): void {
    this.#inner.onRequestSent?.();
  }

  onResponseEnd(controller: Controller, trailers: ParsedHeaders): void {
    this.#stop();
    this.#inner.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Controller | null, err: Error): void {
    this.#stop();
    this.#inner.onResponseError?.(controller, err);
  }

  onRequestUpgrade(controller: Controller, statusCode: number, headers: ParsedHeaders, socket: Duplex): void {
    this.#stop();
    this.#inner.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }
}
