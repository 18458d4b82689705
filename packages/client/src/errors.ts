/**
 * The one catalog of holdfast errors. Every failure that reaches a caller is a
 * `HoldfastError` subclass with a permanent `code`; tests and callers branch on
 * `err.code`, never on the message. `docs/reference/errors.md` documents each code, and
 * `errors.test.ts` checks that the two agree.
 */

/** How far a failed request got: nothing reached the server, written with no byte back (applied or not: unknown), or the answer was cut off. */
export type Delivery = 'never-sent' | 'sent-no-response' | 'response-cut';

/** Context carried by every holdfast error. All fields are optional. */
export interface ErrorContext {
  /** Attempts made on the network for the request, replays included. */
  attempts?: number;
  /** `protocol://host:port` of the server the request was for. */
  origin?: string;
  /** HTTP method of the request. */
  method?: string;
  /** Status of the last response, where one arrived. */
  statusCode?: number;
  /** How far the last attempt got, where the transport knows. */
  delivery?: Delivery;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * Base class of every holdfast error.
 *
 * @example
 * try { await request(url, { dispatcher }) }
 * catch (err) { if (err instanceof HoldfastError && err.code === 'HF_ERR_CONNECT') … }
 */
export class HoldfastError extends Error {
  readonly code: string;
  readonly attempts: number | undefined;
  readonly origin: string | undefined;
  readonly method: string | undefined;
  readonly statusCode: number | undefined;
  readonly delivery: Delivery | undefined;

  constructor(code: string, message: string, context: ErrorContext = {}) {
    super(message, context.cause === undefined ? undefined : { cause: context.cause });
    this.name = new.target.name;
    this.code = code;
    this.attempts = context.attempts;
    this.origin = context.origin;
    this.method = context.method;
    this.statusCode = context.statusCode;
    this.delivery = context.delivery;
  }
}

/** A holdfast error made of a message and context; its code is the subclass's static `code`. */
export abstract class MessageError extends HoldfastError {
  constructor(message: string, context?: ErrorContext) {
    super((new.target as unknown as { code: string }).code, message, context);
  }
}

/** An option or argument is invalid. Thrown synchronously, at construction or call time. */
export class InvalidOptionError extends HoldfastError {
  static readonly code = 'HF_ERR_INVALID_OPTION';
  /** Dotted path of the offending option, e.g. `retry.maxAttempts`. */
  readonly option: string;
  constructor(option: string, message: string) {
    super(InvalidOptionError.code, `invalid option ${option}: ${message}`);
    this.option = option;
  }
}

/** A feature's optional package (prom-client, ioredis, rate-limiter-flexible, redis-semaphore, @opentelemetry/api) is not installed. */
export class MissingPackageError extends HoldfastError {
  static readonly code = 'HF_ERR_MISSING_PACKAGE';
  readonly packageName: string;
  constructor(packageName: string, feature: string, cause: unknown) {
    super(MissingPackageError.code, `${feature} needs the package ${packageName}, which is not installed: npm install ${packageName}`, { cause });
    this.packageName = packageName;
  }
}

/** No connection could be made: refused, DNS failure, connect timeout. Nothing was sent. */
export class ConnectError extends MessageError {
  static readonly code = 'HF_ERR_CONNECT';
}

/**
 * The request failed on a reused keep-alive socket after it was written, before any response
 * byte, and was not replayed because it is not safe to send twice (non-idempotent, no
 * `Idempotency-Key`). Usually the server closed the idle connection as it was written, but a
 * server may also apply a request and then reset: whether it was applied is unknown.
 */
export class StaleSocketError extends MessageError {
  static readonly code = 'HF_ERR_STALE_SOCKET';
}

/** The connection failed after the request was (partly) written: the outcome is unknown. */
export class SocketError extends MessageError {
  static readonly code = 'HF_ERR_SOCKET';
}

/** The server did not answer within a per-attempt timeout (headers or body). */
export class ResponseTimeoutError extends MessageError {
  static readonly code = 'HF_ERR_RESPONSE_TIMEOUT';
}

/** The request's overall deadline, which covers every attempt and wait, passed. */
export class DeadlineExceededError extends HoldfastError {
  static readonly code = 'HF_ERR_DEADLINE';
  /** The deadline that passed, in milliseconds from the start of the request. */
  readonly deadlineMs: number;
  constructor(deadlineMs: number, context?: ErrorContext) {
    super(DeadlineExceededError.code, `deadline of ${deadlineMs} ms exceeded`, context);
    this.deadlineMs = deadlineMs;
  }
}

/** The caller aborted the request (an `AbortSignal`, or the handler's abort). */
export class RequestAbortedError extends HoldfastError {
  static readonly code = 'HF_ERR_ABORTED';
  constructor(context?: ErrorContext) {
    super(RequestAbortedError.code, 'request aborted', context);
  }
}

/**
 * A retry was refused because the origin's retry budget is spent: too many of
 * its requests in flight are already retries. `cause` is the failure that
 * would have been retried.
 */
export class RetryBudgetExhaustedError extends HoldfastError {
  static readonly code = 'HF_ERR_RETRY_BUDGET';
  constructor(context?: ErrorContext) {
    super(RetryBudgetExhaustedError.code, 'retry budget exhausted; failure not retried', context);
  }
}

/** The TLS handshake failed (certificate, protocol or cipher mismatch). */
export class TlsError extends MessageError {
  static readonly code = 'HF_ERR_TLS';
}

/** The request was refused before it reached the network (e.g. an invalid header). */
export class InvalidRequestError extends MessageError {
  static readonly code = 'HF_ERR_INVALID_REQUEST';
}

/** The dispatcher was closed or destroyed while the request was pending. */
export class DispatcherClosedError extends HoldfastError {
  static readonly code = 'HF_ERR_CLOSED';
  constructor(context?: ErrorContext) {
    super(DispatcherClosedError.code, 'dispatcher is closed', context);
  }
}

/** The idle-timeout probe could not complete a measurement. */
export class ProbeError extends MessageError {
  static readonly code = 'HF_ERR_PROBE';
}

/** The origin's circuit breaker is open (or isolated): rejected at once, nothing sent. Never retried. */
export class CircuitOpenError extends HoldfastError {
  static readonly code = 'HF_ERR_CIRCUIT_OPEN';
  /** When the breaker will let a probe through, in ms (Infinity while isolated). */
  readonly retryInMs: number;
  constructor(retryInMs: number, context?: ErrorContext) {
    super(CircuitOpenError.code, `circuit breaker for ${context?.origin ?? 'the origin'} is open`, context);
    this.retryInMs = retryInMs;
  }
}

/** The origin's request queue is full: rejected at once, nothing sent. */
export class QueueFullError extends HoldfastError {
  static readonly code = 'HF_ERR_QUEUE_FULL';
  constructor(context?: ErrorContext) {
    super(QueueFullError.code, `request queue for ${context?.origin ?? 'the origin'} is full`, context);
  }
}

/** The request waited in the origin's queue longer than allowed; nothing was sent. */
export class QueueTimeoutError extends HoldfastError {
  static readonly code = 'HF_ERR_QUEUE_TIMEOUT';
  constructor(waitedMs: number, context?: ErrorContext) {
    super(QueueTimeoutError.code, `request waited ${waitedMs} ms in the queue for ${context?.origin ?? 'the origin'}`, context);
  }
}

/** No rate-limit token was available within the allowed wait; nothing was sent. */
export class RateLimitedError extends HoldfastError {
  static readonly code = 'HF_ERR_RATE_LIMITED';
  /** When a token will be available, in ms. */
  readonly retryInMs: number;
  constructor(retryInMs: number, context?: ErrorContext) {
    super(RateLimitedError.code, `rate limit for ${context?.origin ?? 'the origin'} reached; next token in ${retryInMs} ms`, context);
    this.retryInMs = retryInMs;
  }
}

/**
 * The ServiceNow instance refused the credentials (a 401, or a refused OAuth grant), or
 * sign-in is held off after such a refusal. `freshCredential`: a new credential (a new
 * token) is ready for one more try; false when a try would send the refused one again.
 */
export class ServiceNowAuthError extends HoldfastError {
  static readonly code = 'HF_ERR_SERVICENOW_AUTH';
  readonly freshCredential: boolean;
  constructor(message: string, context?: ErrorContext & { freshCredential?: boolean }) {
    super(ServiceNowAuthError.code, message, context);
    this.freshCredential = context?.freshCredential ?? false;
  }
}

/**
 * A Table API answer could not be used: a non-2xx status, or a 200 whose body was cut
 * off or carried an `error` object (the transaction quota's cut-off). `retryable` says
 * whether the same request may succeed later.
 */
export class ServiceNowResponseError extends HoldfastError {
  static readonly code = 'HF_ERR_SERVICENOW_RESPONSE';
  readonly retryable: boolean;
  /** `Retry-After` of the answer, in ms, when it had one. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, context: ErrorContext & { retryable: boolean; retryAfterMs?: number }) {
    super(ServiceNowResponseError.code, message, context);
    this.retryable = context.retryable;
    this.retryAfterMs = context.retryAfterMs;
  }
}

/**
 * A proxy config file is invalid. The message is one line: the file, the field's path
 * (`upstreams[0].targets[1]`) and what was expected.
 */
export class ProxyConfigError extends HoldfastError {
  static readonly code = 'HF_ERR_PROXY_CONFIG';
  /** The file or source the config came from. */
  readonly source: string;
  /** The offending field's path, e.g. `listeners[0].port`. */
  readonly field: string;
  constructor(source: string, field: string, message: string) {
    super(ProxyConfigError.code, `${source}: ${field}: ${message}`);
    this.source = source;
    this.field = field;
  }
}

/** Every target of a proxy route is out of rotation (ejected by its breaker, or failing health checks): 503. */
export class NoUpstreamError extends HoldfastError {
  static readonly code = 'HF_ERR_NO_UPSTREAM';
  constructor(route: string) {
    super(NoUpstreamError.code, `no healthy upstream for route ${route}`);
  }
}

/** The proxy refused a client's request as malformed or unsafe (smuggling, a forward-proxy target): 400. */
export class ProxyBadRequestError extends HoldfastError {
  static readonly code = 'HF_ERR_PROXY_BAD_REQUEST';
  constructor(message: string) {
    super(ProxyBadRequestError.code, message);
  }
}

/** No HTTP route of the proxy matches the request's host and path: 404. */
export class ProxyNoRouteError extends HoldfastError {
  static readonly code = 'HF_ERR_PROXY_NO_ROUTE';
  constructor(host: string, path: string) {
    super(ProxyNoRouteError.code, `no route for ${host}${path}`);
  }
}

/** A proxied body exceeded its size limit: the request's (413) or the upstream response's (502). */
export class BodyTooLargeError extends HoldfastError {
  static readonly code = 'HF_ERR_BODY_TOO_LARGE';
  readonly limitBytes: number;
  readonly which: 'request' | 'response';
  constructor(which: 'request' | 'response', limitBytes: number) {
    super(BodyTooLargeError.code, `${which} body exceeds ${limitBytes} bytes`);
    this.limitBytes = limitBytes;
    this.which = which;
  }
}

const CLASSES = [
  InvalidOptionError, MissingPackageError, ConnectError, StaleSocketError, SocketError, ResponseTimeoutError, DeadlineExceededError,
  RequestAbortedError, RetryBudgetExhaustedError, TlsError, InvalidRequestError, DispatcherClosedError, ProbeError,
  CircuitOpenError, QueueFullError, QueueTimeoutError, RateLimitedError, ServiceNowAuthError, ServiceNowResponseError,
  ProxyConfigError, NoUpstreamError, ProxyBadRequestError, ProxyNoRouteError, BodyTooLargeError,
] as const;

type ErrorClass = (typeof CLASSES)[number];

/** Every error class, keyed by its code. Used by the catalog test and the docs. */
export const ERROR_CLASSES = Object.fromEntries(CLASSES.map((cls) => [cls.code, cls])) as { readonly [C in ErrorClass as C['code']]: C };

export type ErrorCode = keyof typeof ERROR_CLASSES;

/** True when `err` is a holdfast error, optionally with the given code. */
export function isHoldfastError(err: unknown, code?: ErrorCode): err is HoldfastError {
  return err instanceof HoldfastError && (code === undefined || err.code === code);
}
