import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.js';
import { RequestAbortedError, RetryBudgetExhaustedError, HoldfastError } from '../errors.js';
import type { Backoff } from '../policy/backoff.js';
import { parseRetryAfter } from '../policy/retry-after.js';
import { publish } from './channels.js';
import type { OriginRegistry } from './origin-state.js';
import { RedispatchHandler, type Redispatch, type RedispatchPolicy } from './redispatch-handler.js';
import { classifyFailure, DEADLINE_AT, hasReplayableBody, isRetrySafe, type HoldfastDispatchOptions } from './request-facts.js';
import { toHoldfastError } from './to-holdfast-error.js';

export interface RetryConfig {
  maxAttempts: number;
  backoff: Backoff;
  statuses: ReadonlySet<number>;
  maxRetryAfterMs: number;
}

/**
 * Retries what failed for a reason that a later attempt can fix, with
 * full-jitter backoff, `Retry-After`, the origin's retry budget and the
 * request's deadline. Connect failures are retried for any method (nothing was
 * sent); failures whose outcome is unknown only for requests safe to repeat.
 * Every error it gives up with is a `HoldfastError`.
 */
export function retryInterceptor(config: RetryConfig, origins: OriginRegistry, clock: Clock): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts: HoldfastDispatchOptions, handler) => {
    const origin = String(opts.origin);
    const budget = origins.get(origin).retryBudget;
    const enabled = opts.holdfast?.retry !== false;
    const safe = isRetrySafe(opts) && hasReplayableBody(opts);
    const context = (attempts: number, statusCode?: number) => ({ attempts, origin, method: opts.method, statusCode });
    let holdsRetry = false;
    const releaseRetry = () => { if (holdsRetry) budget.releaseRetry(); holdsRetry = false; };

    const schedule = (attempts: number, reason: string, retryAfterMs: number | undefined): Redispatch | string => {
      if (!enabled || attempts >= config.maxAttempts) return 'attempts';
      const delayMs = retryAfterMs ?? config.backoff(attempts);
      const deadlineAt = opts[DEADLINE_AT];
      if (deadlineAt !== undefined && clock.now() + delayMs >= deadlineAt) return 'deadline';
      releaseRetry();
      if (!budget.tryAcquireRetry()) return 'budget';
      holdsRetry = true;
      publish('retry', { origin, method: opts.method, path: opts.path, attempt: attempts + 1, delayMs, reason });
      return { delayMs };
    };

    const policy: RedispatchPolicy = {
      onFailure(err, attempts) {
        const kind = classifyFailure(err);
        const retryable = kind === 'connect' || (safe && (kind === 'stale' || kind === 'socket' || kind === 'timeout'));
        const mapped = toHoldfastError(err, context(attempts));
        if (!retryable) return mapped;
        const next = schedule(attempts, kind, undefined);
        if (typeof next !== 'string') return next;
        publish('retryDenied', { origin, method: opts.method, path: opts.path, reason: next });
        return next === 'budget' ? new RetryBudgetExhaustedError({ ...context(attempts), cause: mapped }) : mapped;
      },
      onStatus(statusCode, headers, attempts) {
        if (!safe || !config.statuses.has(statusCode)) return undefined;
        const header = headers['retry-after'];
        const retryAfterMs = parseRetryAfter(Array.isArray(header) ? header[0] : header, Date.now());
        if (retryAfterMs !== undefined && retryAfterMs > config.maxRetryAfterMs) return undefined;
        const next = schedule(attempts, `status ${statusCode}`, retryAfterMs);
        return typeof next === 'string' ? undefined : next;
      },
      finalError(err, attempts, aborted) {
        if (aborted && !(err instanceof HoldfastError)) return new RequestAbortedError({ ...context(attempts), cause: err });
        return toHoldfastError(err, context(attempts));
      },
      onSettled() {
        releaseRetry();
        budget.requestFinished();
      },
    };
    budget.requestStarted();
    return new RedispatchHandler(dispatch, opts, handler, policy, clock).start();
  };
}
