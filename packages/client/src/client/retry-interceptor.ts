import type { Clock } from '../clock.js';
import { HoldfastError, RequestAbortedError, RetryBudgetExhaustedError } from '../errors.js';
import type { Backoff } from '../policy/backoff.js';
import { parseRetryAfter } from '../policy/retry-after.js';
import type { RetryBudget } from '../policy/retry-budget.js';
import type { Telemetry } from './telemetry.js';
import { headerOf, withHeaders, type ParsedHeaders } from '../http/headers.js';
import type { Interceptor } from './handler.js';
import type { OriginRegistry, OriginState } from './origin-state.js';
import { DeadlineQueue } from './deadline-queue.js';
import { RedispatchHandler, type Redispatch, type RedispatchPolicy } from './redispatch-handler.js';
import { classifyFailure, errorCode, hasReplayableBody, isRetrySafe, type HoldfastDispatchOptions } from './request-facts.js';
import { ReplayPolicy } from './replay-policy.js';
import type { RequestTrace, RequestTracer } from './request-trace.js';
import { toHoldfastError } from './to-holdfast-error.js';

export interface RetryConfig {
  maxAttempts: number;
  backoff: Backoff;
  statuses: ReadonlySet<number>;
  maxRetryAfterMs: number;
  /** Stale-socket replay (replay-policy.ts) before any retry rule. */
  replay: boolean;
  /** Hold this much of a response body to a request safe to repeat, so a cut body is retried; 0 off. */
  holdBodyBytes: number;
  /** Traces each request as a whole (request-trace.ts). */
  tracer: RequestTracer;
  /** The deadline of a request that sets none of its own (`holdfast.deadlineMs`); undefined for none. */
  deadlineMs: number | undefined;
  /** Metrics or a logger on: each request's outcome and latency are recorded, and requests this slow logged. */
  observeSlowMs: number | undefined;
}

/**
 * The outermost layer, one handler per request (redispatch-handler.ts): its deadline, its
 * outcome (metrics, slow-request log), and retries.
 *
 * Sends again what failed for a reason that another attempt can fix. First rule:
 * stale-socket replay, at once, on a fresh connection (replay-policy.ts). Then
 * retries with full-jitter backoff, `Retry-After`, the origin's retry budget and
 * the request's deadline: connect failures for any method (nothing was sent),
 * failures whose outcome is unknown only for requests safe to repeat. Every error
 * it gives up with is a `HoldfastError`, whose `attempts` counts replays too.
 */
export function retryInterceptor(config: RetryConfig, origins: OriginRegistry, clock: Clock): Interceptor {
  // Default deadlines share one timer (DeadlineQueue); a request's own duration gets its own.
  const deadlines = new DeadlineQueue(clock);
  return (next) => (opts: HoldfastDispatchOptions, handler) => {
    const state = origins.get(opts.origin!);
    const own = opts.holdfast?.deadlineMs;
    const ms = own ?? config.deadlineMs;
    const deadlineMs = ms === undefined || ms <= 0 ? 0 : ms;
    const now = deadlineMs === 0 && config.observeSlowMs === undefined ? 0 : clock.now();
    const deadlineAt = deadlineMs === 0 ? undefined : now + deadlineMs;
    const trace = config.tracer(opts);
    const policy = new RetryPolicy(config, opts, state, clock, now, deadlineAt, trace);
    const traced = trace?.headers === undefined ? opts : { ...opts, headers: withHeaders(opts.headers, trace.headers) };
    return new RedispatchHandler(next, traced, handler, policy, clock, deadlineMs, deadlineAt ?? 0, own === undefined ? deadlines : undefined).start();
  };
}

/** One request's retry decisions. */
class RetryPolicy implements RedispatchPolicy {
  readonly #config: RetryConfig;
  readonly #opts: HoldfastDispatchOptions;
  readonly #state: OriginState;
  readonly #budget: RetryBudget;
  readonly #telemetry: Telemetry;
  readonly #clock: Clock;
  readonly #safe: boolean;
  readonly #enabled: boolean;
  readonly #deadlineAt: number | undefined;
  /** Made at the first failure or status that could call for a replay (most requests never need it). */
  #replay: ReplayPolicy | undefined;
  readonly #replayable: boolean;
  readonly #trace: RequestTrace | undefined;
  #holdsRetry = false;
  readonly #startedAt: number;

  constructor(config: RetryConfig, opts: HoldfastDispatchOptions, state: OriginState, clock: Clock, startedAt: number, deadlineAt: number | undefined, trace: RequestTrace | undefined) {
    this.#config = config;
    this.#trace = trace;
    this.#state = state;
    this.#telemetry = state.telemetry;
    this.#deadlineAt = deadlineAt;
    this.#opts = opts;
    this.#budget = state.retryBudget;
    this.#clock = clock;
    this.#startedAt = startedAt;
    this.#safe = isRetrySafe(opts) && hasReplayableBody(opts);
    this.#enabled = opts.holdfast?.retry !== false;
    this.#replayable = config.replay && hasReplayableBody(opts);
    this.#budget.requestStarted();
  }

  #context(attempts: number) {
    return { attempts, origin: String(this.#opts.origin), method: this.#opts.method };
  }

  #release(): void {
    if (this.#holdsRetry) this.#budget.releaseRetry();
    this.#holdsRetry = false;
  }

  /** A retry after `retryAfterMs` or the backoff, or why not. */
  #schedule(attempts: number, reason: string, retryAfterMs: number | undefined): Redispatch | 'attempts' | 'deadline' | 'budget' {
    // Replays are network attempts but not retries: they do not count against the limit.
    if (!this.#enabled || attempts - (this.#replay?.replays ?? 0) >= this.#config.maxAttempts) return 'attempts';
    const delayMs = retryAfterMs ?? this.#config.backoff(attempts);
    if (this.#deadlineAt !== undefined && this.#clock.now() + delayMs >= this.#deadlineAt) return 'deadline';
    this.#release();
    if (!this.#budget.tryAcquireRetry()) return 'budget';
    this.#holdsRetry = true;
    this.#replay?.newAttempt();
    const { origin, method, path } = this.#opts;
    this.#telemetry.retry({ origin: String(origin), method, path, attempt: attempts + 1, delayMs, reason });
    return { delayMs, reason };
  }

  #replayPolicy(): ReplayPolicy | undefined {
    if (this.#replay === undefined && this.#replayable) this.#replay = new ReplayPolicy(this.#opts, this.#telemetry, this.#safe);
    return this.#replay;
  }

  onFailure(err: Error, attempts: number): Redispatch | Error {
    const replay = this.#replayPolicy()?.onFailure(err);
    if (replay !== undefined) return replay;
    const kind = classifyFailure(err);
    const retryable = kind === 'connect' || (this.#safe && (kind === 'stale' || kind === 'socket' || kind === 'timeout'));
    const mapped = toHoldfastError(err, this.#context(attempts));
    if (!retryable) return mapped;
    const next = this.#schedule(attempts, kind, undefined);
    if (typeof next !== 'string') return next;
    const { origin, method, path } = this.#opts;
    this.#telemetry.retryDenied({ origin: String(origin), method, path, reason: next });
    return next === 'budget' ? new RetryBudgetExhaustedError({ ...this.#context(attempts), cause: mapped }) : mapped;
  }

  onStatus(statusCode: number, headers: ParsedHeaders, attempts: number): Redispatch | undefined {
    const replay = statusCode === 408 ? this.#replayPolicy()?.onStatus(statusCode, headers) : undefined;
    if (replay !== undefined) return replay;
    if (!this.#safe || !this.#config.statuses.has(statusCode)) return undefined;
    const retryAfterMs = parseRetryAfter(headerOf(headers, 'retry-after'), Date.now());
    if (retryAfterMs !== undefined && retryAfterMs > this.#config.maxRetryAfterMs) return undefined;
    const next = this.#schedule(attempts, `status ${statusCode}`, retryAfterMs);
    return typeof next === 'string' ? undefined : next;
  }

  holdBodyBytes(): number {
    return this.#safe && this.#enabled ? this.#config.holdBodyBytes : 0;
  }

  finalError(err: Error, attempts: number, aborted: boolean): Error {
    if (aborted && !(err instanceof HoldfastError)) return new RequestAbortedError({ ...this.#context(attempts), cause: err });
    return toHoldfastError(err, this.#context(attempts));
  }

  onAttempt(attempt: number, reason: string): void {
    this.#trace?.attempt(attempt, reason);
    this.#opts.holdfast?.onAttempt?.(attempt, reason);
  }

  onSettled(attempts: number, statusCode: number | undefined, error: Error | undefined): void {
    this.#release();
    this.#budget.requestFinished();
    this.#trace?.end(attempts, statusCode, error);
    if (this.#config.observeSlowMs !== undefined) this.#observe(statusCode, error);
  }

  /**
   * The request's outcome and latency (retries included) to metrics, and a warning for a slow one.
   * It logs origin, method, status and the path without its query string, never headers:
   * credentials travel in those.
   */
  #observe(statusCode: number | undefined, error: Error | undefined): void {
    const ms = this.#clock.now() - this.#startedAt;
    const outcome = error !== undefined ? 'error' : (statusCode ?? 0) < 400 ? 'ok' : 'status';
    const code = error !== undefined ? errorCode(error) ?? error.name : statusCode ?? 0;
    const { metrics, logger } = this.#telemetry;
    const { origin } = this.#state;
    const { method } = this.#opts;
    metrics?.requestDone(this.#state.requestSeries, origin, method, outcome, code, ms / 1000);
    if (logger !== undefined && ms >= this.#config.observeSlowMs!) {
      const path = this.#opts.path.split('?', 1)[0]; // secrets travel in the query too
      logger.warn({ origin, method, path, outcome, code: String(code), durationMs: Math.round(ms) }, 'slow request');
    }
  }
}

