import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.js';
import { DeadlineExceededError } from '../errors.js';
import { DEADLINE_AT, type HoldfastDispatchOptions } from './request-facts.js';

type Headers = Record<string, string | string[] | undefined>;

/**
 * One deadline over every attempt and every wait between them, until the
 * response starts (after that, undici's body timeout governs the stream).
 * Envoy's route timeout has the same scope, "to avoid an exponential
 * retry/timeout explosion". Inner interceptors read `DEADLINE_AT` so that they
 * never start a wait that would end past it.
 */
export function deadlineInterceptor(defaultMs: number | undefined, clock: Clock): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts: HoldfastDispatchOptions, handler) => {
    const ms = opts.holdfast?.deadlineMs ?? defaultMs;
    if (ms === undefined || ms <= 0) return dispatch(opts, handler);
    const error = () => new DeadlineExceededError(ms, { origin: String(opts.origin), method: opts.method });
    return dispatch({ ...opts, [DEADLINE_AT]: clock.now() + ms } as Dispatcher.DispatchOptions, new DeadlineHandler(handler, ms, clock, error));
  };
}

class DeadlineHandler implements Dispatcher.DispatchHandler {
  readonly #inner: Dispatcher.DispatchHandler;
  readonly #ms: number;
  readonly #clock: Clock;
  readonly #error: () => Error;
  #cancel: (() => void) | undefined;

  constructor(inner: Dispatcher.DispatchHandler, ms: number, clock: Clock, error: () => Error) {
    this.#inner = inner;
    this.#ms = ms;
    this.#clock = clock;
    this.#error = error;
  }

  #stop(): void {
    this.#cancel?.();
    this.#cancel = undefined;
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.#stop();
    this.#cancel = this.#clock.schedule(() => controller.abort(this.#error()), this.#ms);
    this.#inner.onRequestStart?.(controller, context);
  }

  onRequestUpgrade(controller: Dispatcher.DispatchController, statusCode: number, headers: Headers, socket: import('node:stream').Duplex): void {
    this.#stop();
    this.#inner.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Headers, statusMessage?: string): void {
    this.#stop();
    this.#inner.onResponseStart?.(controller, statusCode, headers, statusMessage);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#inner.onResponseData?.(controller, chunk);
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: Headers): void {
    this.#stop();
    this.#inner.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Dispatcher.DispatchController, err: Error): void {
    this.#stop();
    this.#inner.onResponseError?.(controller, err);
  }
}
