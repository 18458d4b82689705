import type { Dispatcher } from 'undici';
import type { Clock } from '../clock.js';
import { publish } from './channels.js';
import { RedispatchHandler, type RedispatchPolicy } from './redispatch-handler.js';
import { classifyFailure, FRESH_CONNECTION, hasReplayableBody, isRetrySafe, type HoldfastDispatchOptions } from './request-facts.js';

/**
 * Stale-socket replay. A request that failed on a *reused* keep-alive socket
 * before any response byte arrived almost certainly met a server that had just
 * closed the idle connection. If it is safe to send twice (idempotent method,
 * `Idempotency-Key`), it is sent again once, at once, on a fresh connection:
 * no backoff, because nothing is wrong with the server. A request that is not
 * safe to send twice is never replayed; the failure goes up as it is.
 */
export function replayInterceptor(clock: Clock): Dispatcher.DispatcherComposeInterceptor {
  return (dispatch) => (opts: HoldfastDispatchOptions, handler) => {
    if (!isRetrySafe(opts) || !hasReplayableBody(opts)) return dispatch(opts, handler);
    let replayed = false;
    const policy: RedispatchPolicy = {
      onFailure(err) {
        if (replayed || classifyFailure(err) !== 'stale') return err;
        replayed = true;
        publish('replay', { origin: String(opts.origin), method: opts.method, path: opts.path });
        return { delayMs: 0, opts: { ...opts, [FRESH_CONNECTION]: true } as Dispatcher.DispatchOptions, once: true };
      },
    };
    return new RedispatchHandler(dispatch, opts, handler, policy, clock).start();
  };
}
