import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.js';
import { DeadlineExceededError } from '../errors.js';
import type { Handler, Interceptor } from './handler.js';
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
  #abort: ((err?: Error) => void) | undefined;
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
    this.#abort?.(new DeadlineExceededError(this.#ms, { origin: String(this.#opts.origin), method: this.#opts.method }));
  }

  #stop(): void {
    this.#queue?.remove(this);
    this.#cancel?.();
    this.#cancel = undefined;
  }

  onConnect(abort: (err?: Error) => void, context?: object): void {
    this.#stop();
    this.#abort = abort;
    if (this.#queue !== undefined) this.#queue.add(this);
    else this.#cancel = this.#clock.schedule(() => this.expire(), Math.max(0, this.deadlineAt - this.#clock.now()));
    this.#inner.onConnect?.(abort, context);
  }

  onResponseStarted(): void {
    this.#inner.onResponseStarted?.();
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode >= 200) this.#stop();
    return this.#inner.onHeaders?.(statusCode, headers, resume, statusText) ?? true;
  }

  onData(chunk: Buffer): boolean {
    return this.#inner.onData?.(chunk) ?? true;
  }

  onBodySent(chunkSize: number, totalBytesSent: number): void {
    this.#inner.onBodySent?.(chunkSize, totalBytesSent);
  }

  onComplete(trailers: string[] | Buffer[] | null): void {
    this.#stop();
    this.#inner.onComplete?.(trailers);
  }

  onError(err: Error): void {
    this.#stop();
    this.#inner.onError?.(err);
  }

  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: Duplex): void {
    this.#stop();
    this.#inner.onUpgrade?.(statusCode, headers, socket);
  }
}
