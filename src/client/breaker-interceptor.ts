import type { Duplex } from 'node:stream';
import type { Clock } from '../clock.js';
import { CircuitOpenError } from '../errors.js';
import type { CircuitBreaker } from '../policy/circuit-breaker.js';
import type { Controller, Handler, Interceptor, ParsedHeaders } from './handler.js';
import type { OriginRegistry } from './origin-state.js';
import { classifyFailure } from './request-facts.js';

/** Failures that say nothing about the server's health: they only free a probe slot. */
const NEUTRAL = new Set(['stale', 'aborted', 'closed', 'invalid']);

/**
 * Circuit breaker per origin, consulted by every attempt (it sits below retry).
 * An open breaker rejects at once with `HF_ERR_CIRCUIT_OPEN`, which retry never
 * retries and the breaker never counts. Transport failures and `failureStatuses`
 * count as failures; a stale socket or an abort counts as nothing.
 */
export function breakerInterceptor(origins: OriginRegistry, clock: Clock, failureStatuses: ReadonlySet<number>): Interceptor {
  return (next) => (opts, handler) => {
    const breaker = origins.get(opts.origin!).breaker;
    if (breaker === undefined) return next(opts, handler);
    const admission = breaker.admit(clock.now());
    if (!admission.allowed) {
      handler.onResponseError?.(null, new CircuitOpenError(admission.retryInMs, { origin: String(opts.origin), method: opts.method }));
      return true;
    }
    return next(opts, new BreakerHandler(handler, breaker, admission.probe, clock, failureStatuses));
  };
}

class BreakerHandler implements Handler {
  readonly #inner: Handler;
  readonly #breaker: CircuitBreaker;
  readonly #probe: boolean;
  readonly #clock: Clock;
  readonly #failureStatuses: ReadonlySet<number>;
  #recorded = false;

  constructor(inner: Handler, breaker: CircuitBreaker, probe: boolean, clock: Clock, failureStatuses: ReadonlySet<number>) {
    this.#inner = inner;
    this.#breaker = breaker;
    this.#probe = probe;
    this.#clock = clock;
    this.#failureStatuses = failureStatuses;
  }

  #record(failed: boolean, neutral = false): void {
    if (this.#recorded) return;
    this.#recorded = true;
    this.#breaker.record(this.#clock.now(), { failed, probe: this.#probe, neutral });
  }

  onRequestStart(controller: Controller, context: unknown): void {
    this.#inner.onRequestStart?.(controller, context);
  }

  onResponseStarted(): void {
    this.#inner.onResponseStarted?.();
  }

  onResponseStart(controller: Controller, statusCode: number, headers: ParsedHeaders, statusText?: string): void {
    if (statusCode >= 200) this.#record(this.#failureStatuses.has(statusCode));
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
    const neutral = NEUTRAL.has(classifyFailure(err));
    this.#record(!neutral, neutral);
    this.#inner.onResponseError?.(controller, err);
  }

  onRequestUpgrade(controller: Controller, statusCode: number, headers: ParsedHeaders, socket: Duplex): void {
    this.#record(false);
    this.#inner.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }
}
