import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.js';
import { publish } from './channels.js';
import type { Interceptor } from './handler.js';
import { RedispatchHandler, type Redispatch, type RedispatchPolicy } from './redispatch-handler.js';
import { classifyFailure, FRESH_CONNECTION, hasReplayableBody, isRetrySafe, markReplayed, type HoldfastDispatchOptions } from './request-facts.js';

/**
 * Stale-socket replay. A request that failed on a *reused* keep-alive socket
 * before any response byte arrived almost certainly met a server that had just
 * closed the idle connection. If it is safe to send twice (idempotent method,
 * `Idempotency-Key`), it is sent again once, at once, on a fresh connection:
 * no backoff, because nothing is wrong with the server. A request that is not
 * safe to send twice is never replayed; the failure goes up as it is.
 */
export function replayInterceptor(clock: Clock): Interceptor {
  return (next) => (opts: HoldfastDispatchOptions, handler) => {
    if (!isRetrySafe(opts) || !hasReplayableBody(opts)) return next(opts, handler);
    return new RedispatchHandler(next, opts, handler, new ReplayPolicy(opts), clock).start();
  };
}

class ReplayPolicy implements RedispatchPolicy {
  readonly #opts: Dispatcher.DispatchOptions;
  #replayed = false;

  constructor(opts: Dispatcher.DispatchOptions) {
    this.#opts = opts;
  }

  onFailure(err: Error): Redispatch | Error {
    if (this.#replayed) {
      markReplayed(err);
      return err;
    }
    if (classifyFailure(err) !== 'stale') return err;
    this.#replayed = true;
    const { origin, method, path } = this.#opts;
    publish('replay', { origin: String(origin), method, path });
    return { delayMs: 0, opts: { ...this.#opts, [FRESH_CONNECTION]: true } as Dispatcher.DispatchOptions, once: true };
  }
}
