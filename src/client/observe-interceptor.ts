import type { Duplex } from 'node:stream';
import type { Clock } from '../clock.js';
import type { Controller, Handler, Interceptor, ParsedHeaders } from './handler.js';
import { errorCode } from './request-facts.js';
import type { OriginRegistry, OriginState } from './origin-state.js';
import type { Telemetry } from './telemetry.js';

/**
 * Outermost when metrics or a logger are configured: counts each request's
 * outcome, observes its latency (retries included), and warns about slow ones.
 * It logs origin, method, status and the path without its query string, never
 * headers: credentials travel in those.
 */
export function observeInterceptor(telemetry: Telemetry, origins: OriginRegistry, clock: Clock, slowRequestMs: number): Interceptor {
  return (next) => (opts, handler) => {
    return next(opts, new ObserveHandler(handler, telemetry, clock, origins.get(opts.origin!), opts.method, opts.path, slowRequestMs));
  };
}

class ObserveHandler implements Handler {
  readonly #inner: Handler;
  readonly #telemetry: Telemetry;
  readonly #clock: Clock;
  readonly #state: OriginState;
  readonly #method: string;
  readonly #path: string;
  readonly #slowMs: number;
  readonly #started: number;
  #statusCode = 0;
  #done = false;

  constructor(inner: Handler, telemetry: Telemetry, clock: Clock, state: OriginState, method: string, path: string, slowMs: number) {
    this.#inner = inner;
    this.#telemetry = telemetry;
    this.#clock = clock;
    this.#state = state;
    this.#method = method;
    this.#path = path;
    this.#slowMs = slowMs;
    this.#started = clock.now();
  }

  #finish(outcome: 'ok' | 'status' | 'error', code: string): void {
    if (this.#done) return;
    this.#done = true;
    const ms = this.#clock.now() - this.#started;
    const { metrics, logger } = this.#telemetry;
    const { origin } = this.#state;
    metrics?.requestDone(this.#state.requestSeries, origin, this.#method, outcome, code, ms / 1000);
    if (logger !== undefined && ms >= this.#slowMs) {
      // The path without its query string: secrets travel there too.
      const path = this.#path.split('?', 1)[0];
      logger.warn({ origin, method: this.#method, path, outcome, code, durationMs: Math.round(ms) }, 'slow request');
    }
  }

  onRequestStart(controller: Controller, context: unknown): void {
    this.#inner.onRequestStart?.(controller, context);
  }

  onResponseStarted(): void {
    this.#inner.onResponseStarted?.();
  }

  onResponseStart(controller: Controller, statusCode: number, headers: ParsedHeaders, statusText?: string): void {
    if (statusCode >= 200) this.#statusCode = statusCode;
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
    this.#finish(this.#statusCode < 400 ? 'ok' : 'status', String(this.#statusCode));
    this.#inner.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Controller | null, err: Error): void {
    this.#finish('error', errorCode(err) ?? err.name);
    this.#inner.onResponseError?.(controller, err);
  }

  onRequestUpgrade(controller: Controller, statusCode: number, headers: ParsedHeaders, socket: Duplex): void {
    this.#finish('ok', String(statusCode));
    this.#inner.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }
}
