import type { Dispatcher } from 'undici';
import type { Telemetry } from './telemetry.js';
import type { Redispatch } from './redispatch-handler.js';
import { classifyFailure, FRESH_CONNECTION, responseFactsOf } from './request-facts.js';

/**
 * Stale-socket replay, the first rule the retry interceptor applies. A request
 * that failed on a *reused* keep-alive socket before any response byte arrived
 * almost certainly met a server that had just closed the idle connection. If it
 * is safe to send twice (the caller checks), it is sent again once, at once, on a
 * fresh connection: no backoff, because nothing is wrong with the server, and it
 * is not a retry (no budget, no attempt limit). A request that is not safe to send
 * twice is never replayed.
 *
 * A 408 on a reused socket is the same race met from the other side: the server timed the
 * idle connection out as the request was written, and says it did not receive a complete
 * request (RFC 9110 §15.5.9). It is replayed the same way when the request is safe to send
 * twice, and for any request when the 408 began before the request was written whole (the
 * server cannot have read it).
 *
 * It lives in the retry interceptor's handler rather than in its own: one handler
 * per request instead of two keeps holdfast's cost under 10% of raw undici's
 * (bench/runners/overhead.ts).
 */
export class ReplayPolicy {
  readonly #opts: Dispatcher.DispatchOptions;
  readonly #telemetry: Telemetry;
  /** Safe to send twice (idempotent or keyed); otherwise only a 408 the server sent unread is replayed. */
  readonly #safe: boolean;
  #replayedThisAttempt = false;
  /** Replays made so far: network attempts that are not retries. */
  replays = 0;

  constructor(opts: Dispatcher.DispatchOptions, telemetry: Telemetry, safe: boolean) {
    this.#opts = opts;
    this.#telemetry = telemetry;
    this.#safe = safe;
  }

  /** A replay on a fresh connection, or undefined when the failure is not a stale socket or one was made already. */
  onFailure(err: Error): Redispatch | undefined {
    if (!this.#safe || this.#replayedThisAttempt || classifyFailure(err) !== 'stale') return undefined;
    return this.#replay();
  }

  /** A replay for a 408 on a reused socket (see above), or undefined. */
  onStatus(statusCode: number, headers: object): Redispatch | undefined {
    if (statusCode !== 408 || this.#replayedThisAttempt) return undefined;
    const facts = responseFactsOf(headers);
    if (facts === undefined || !facts.reused || (!this.#safe && facts.requestSent)) return undefined;
    return this.#replay();
  }

  #replay(): Redispatch {
    this.#replayedThisAttempt = true;
    this.replays++;
    const { origin, method, path } = this.#opts;
    this.#telemetry.replay(String(origin), method, path);
    return { delayMs: 0, opts: { ...this.#opts, [FRESH_CONNECTION]: true } as Dispatcher.DispatchOptions, once: true, reason: 'replay' };
  }

  /** A retry starts a new attempt, which may be replayed once in its turn. */
  newAttempt(): void {
    this.#replayedThisAttempt = false;
  }
}
