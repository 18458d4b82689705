import type { Dispatcher } from 'undici';
import { optionalPackage } from '../optional-package.js';
import { CHANNELS } from './channels.js';

/**
 * One logical request as a whole, across its attempts (replays, retries): what undici's own
 * diagnostics channels cannot tell, since they fire once per attempt. Made by the retry
 * interceptor, which sees every attempt of a request.
 */
export interface RequestTrace {
  /** Headers to send with every attempt (W3C `traceparent`, `tracestate`). */
  readonly headers: Record<string, string> | undefined;
  attempt(attempt: number, reason: string): void;
  end(attempts: number, statusCode: number | undefined, error: Error | undefined): void;
}

/** Starts the trace of one request, or undefined when nothing listens. */
export type RequestTracer = (opts: Dispatcher.DispatchOptions) => RequestTrace | undefined;

/**
 * Publishes `holdfast:client:request-start`, `-attempt` and `-end`. The start message is the
 * request's identity: the attempt and end messages carry it as `request`.
 */
function channelTrace(opts: Dispatcher.DispatchOptions): RequestTrace | undefined {
  if (!CHANNELS.requestStart.hasSubscribers && !CHANNELS.requestAttempt.hasSubscribers && !CHANNELS.requestEnd.hasSubscribers) return undefined;
  const request = { origin: String(opts.origin), method: opts.method, path: opts.path };
  CHANNELS.requestStart.publish(request);
  return {
    headers: undefined,
    attempt: (attempt, reason) => CHANNELS.requestAttempt.publish({ request, attempt, reason }),
    end: (attempts, statusCode, error) => CHANNELS.requestEnd.publish({ request, attempts, statusCode, error }),
  };
}

/** The part of `@opentelemetry/api` holdfast uses (an optional peer dependency). */
interface OtelApi {
  trace: { getTracerProvider(): TracerProvider; setSpan(context: unknown, span: Span): unknown };
  context: { active(): unknown };
  propagation: { inject(context: unknown, carrier: Record<string, string>): void };
  SpanKind: { CLIENT: number };
  SpanStatusCode: { ERROR: number };
}
interface TracerProvider { getTracer(name: string, version?: string): Tracer }
interface Tracer { startSpan(name: string, options: object, context: unknown): Span }
interface Span {
  addEvent(name: string, attributes: Record<string, string | number>): void;
  setAttribute(name: string, value: string | number): void;
  setStatus(status: { code: number; message?: string }): void;
  recordException(error: Error): void;
  end(): void;
}

function loadOtel(): OtelApi {
  return optionalPackage<OtelApi>('@opentelemetry/api', 'tracing (OpenTelemetry)');
}

/**
 * OpenTelemetry: one CLIENT span per request, named by its method (the HTTP semantic
 * conventions), with an event per attempt (`holdfast.attempt`: its number and reason), the
 * final status, and `traceparent` propagated on every attempt.
 */
function otelTracer(tracerProvider: unknown): RequestTracer {
  const api = loadOtel();
  const tracer = ((tracerProvider as TracerProvider | undefined) ?? api.trace.getTracerProvider()).getTracer('holdfast');
  return (opts) => {
    const origin = new URL(String(opts.origin));
    const parent = api.context.active();
    const span = tracer.startSpan(opts.method, {
      kind: api.SpanKind.CLIENT,
      attributes: {
        'http.request.method': opts.method,
        'server.address': origin.hostname,
        'server.port': Number(origin.port) || (origin.protocol === 'https:' ? 443 : 80),
        'url.full': `${origin.origin}${opts.path}`,
      },
    }, parent);
    const headers: Record<string, string> = {};
    api.propagation.inject(api.trace.setSpan(parent, span), headers);
    return {
      headers,
      attempt: (attempt, reason) => span.addEvent('holdfast.attempt', { 'holdfast.attempt': attempt, 'holdfast.reason': reason }),
      end: (attempts, statusCode, error) => {
        span.setAttribute('holdfast.attempts', attempts);
        if (statusCode !== undefined) span.setAttribute('http.response.status_code', statusCode);
        if (error !== undefined) {
          span.recordException(error);
          span.setAttribute('error.type', (error as { code?: string }).code ?? error.name);
          span.setStatus({ code: api.SpanStatusCode.ERROR, message: error.message });
        } else if (statusCode !== undefined && statusCode >= 500) {
          span.setAttribute('error.type', String(statusCode));
          span.setStatus({ code: api.SpanStatusCode.ERROR });
        }
        span.end();
      },
    };
  };
}

/** The tracer of a dispatcher: OpenTelemetry when `tracing` is on, the diagnostics channels always. */
export function requestTracer(tracing: false | { tracerProvider?: unknown }): RequestTracer {
  if (tracing === false) return channelTrace;
  const otel = otelTracer(tracing.tracerProvider);
  return (opts) => {
    const channels = channelTrace(opts);
    const span = otel(opts)!;
    if (channels === undefined) return span;
    return {
      headers: span.headers,
      attempt: (attempt, reason) => { channels.attempt(attempt, reason); span.attempt(attempt, reason); },
      end: (attempts, statusCode, error) => { channels.end(attempts, statusCode, error); span.end(attempts, statusCode, error); },
    };
  };
}
