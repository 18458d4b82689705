import type { Duplex } from 'node:stream';
import type { Clock } from '../clock.js';
import { ResponseTimeoutError } from '../errors.js';
import { adaptiveTimeoutMs, type LatencyEstimator } from '../policy/latency-estimator.js';
import { DeadlineQueue, type DeadlineEntry } from './deadline-queue.js';
import type { Controller, Handler, Interceptor, ParsedHeaders } from './handler.js';
import type { OriginRegistry } from './origin-state.js';

/**
 * Adaptive per-attempt timeout (below retry, so every attempt gets one): the time
 * allowed for response headers is `multiplier ×` the origin's recent latency
 * quantile, clamped to `[minMs, maxMs]`, counted from the moment the request is
 * written. A timed-out attempt is aborted with HF_ERR_RESPONSE_TIMEOUT, which retry
 * sends again when the request is safe to repeat. It keeps its own timer: undici's
 * headers timeout ticks about once a second, far too coarse for a 50 ms limit.
 */
export function adaptiveTimeoutInterceptor(origins: OriginRegistry, clock: Clock, bounds: { multiplier: number; minMs: number; maxMs: number }): Interceptor {
  const queue = new DeadlineQueue(clock, { afterPendingIo: true }); // one timer for every attempt's timeout
  return (next) => (opts, handler) => {
    const latency = origins.get(opts.origin!).latency;
    if (latency === undefined) return next(opts, handler);
    const timeoutMs = adaptiveTimeoutMs(latency.estimate(), bounds);
    const context = { origin: String(opts.origin), method: opts.method };
    return next(opts, new LatencyHandler(handler, latency, clock, timeoutMs, context, queue));
  };
}

class LatencyHandler implements Handler, DeadlineEntry {
  readonly #inner: Handler;
  readonly #latency: LatencyEstimator;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #context: { origin: string; method: string };
  readonly #queue: DeadlineQueue;
  #writtenAt: number | undefined;
  #controller: Controller | undefined;
  deadlineAt = 0;
  prevDeadline: DeadlineEntry | undefined;
  nextDeadline: DeadlineEntry | undefined;
  queued = false;

  constructor(inner: Handler, latency: LatencyEstimator, clock: Clock, timeoutMs: number, context: { origin: string; method: string }, queue: DeadlineQueue) {
    this.#inner = inner;
    this.#latency = latency;
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
    this.#context = context;
    this.#queue = queue;
  }

  #stop(): void {
    this.#queue.remove(this);
  }

  expire(): void {
    this.#controller?.abort(new ResponseTimeoutError(`no response headers within ${this.#timeoutMs} ms (adaptive timeout)`, this.#context));
  }

  onRequestStart(controller: Controller, context: unknown): void {
    this.#writtenAt = this.#clock.now();
    this.#controller = controller;
    this.#stop();
    this.deadlineAt = this.#writtenAt + this.#timeoutMs;
    this.#queue.add(this);
    this.#inner.onRequestStart?.(controller, context);
  }

  onResponseStarted(): void {
    this.#inner.onResponseStarted?.();
  }

  onResponseStart(controller: Controller, statusCode: number, headers: ParsedHeaders, statusText?: string): void {
    if (statusCode >= 200) this.#stop();
    if (statusCode >= 200 && this.#writtenAt !== undefined) {
      this.#latency.record(this.#clock.now() - this.#writtenAt);
      this.#writtenAt = undefined;
    }
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
