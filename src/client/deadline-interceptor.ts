import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.js';
import { DeadlineExceededError } from '../errors.js';
import type { Handler, Interceptor } from './handler.js';
import { DEADLINE_AT, type HoldfastDispatchOptions } from './request-facts.js';

/**
 * One deadline over every attempt and every wait between them, until the
 * response starts (after that, undici's body timeout governs the stream).
 * Envoy's route timeout has the same scope, "to avoid an exponential
 * retry/timeout explosion". Inner interceptors read `DEADLINE_AT` so that they
 * never start a wait that would end past it.
 */
export function deadlineInterceptor(defaultMs: number | undefined, clock: Clock): Interceptor {
  return (next) => (opts: HoldfastDispatchOptions, handler) => {
    const ms = opts.holdfast?.deadlineMs ?? defaultMs;
    if (ms === undefined || ms <= 0) return next(opts, handler);
    const inner = { ...opts, [DEADLINE_AT]: clock.now() + ms } as Dispatcher.DispatchOptions;
    return next(inner, new DeadlineHandler(handler, ms, clock, opts));
  };
}

class DeadlineHandler implements Handler {
  readonly #inner: Handler;
  readonly #ms: number;
  readonly #clock: Clock;
  readonly #opts: Dispatcher.DispatchOptions;
  #cancel: (() => void) | undefined;

  constructor(inner: Handler, ms: number, clock: Clock, opts: Dispatcher.DispatchOptions) {
    this.#inner = inner;
    this.#ms = ms;
    this.#clock = clock;
    this.#opts = opts;
  }

  #stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }

  onConnect(abort: (err?: Error) => void, context?: object): void {
    this.#stop();
    this.#cancel = this.#clock.schedule(() => {
      abort(new DeadlineExceededError(this.#ms, { origin: String(this.#opts.origin), method: this.#opts.method }));
    }, this.#ms);
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
