/**
 * Keep-alive alignment: how long an idle pooled socket to one origin may stay
 * open before the client retires it, so that the client, not the server, is the
 * side that closes idle connections (the rule in envoyproxy/envoy#2324 and in
 * every "socket hang up" post-mortem: client idle < server idle − RTT).
 *
 * The limit is the smallest of three sources:
 * - the server's `Keep-Alive: timeout=N` hint, less a margin;
 * - the idle time after which the server was *seen* closing a socket, less a margin;
 * - a safe default, for servers that advertise nothing (nginx, most load balancers).
 */

/** Below Node's 5 s server default, as undici and agentkeepalive chose. */
export const DEFAULT_IDLE_TIMEOUT_MS = 4_000;
/** A margin takes this share of the server's timeout… */
export const DEFAULT_MARGIN_RATIO = 0.25;
/** …but never more than this: RTT and timer slop, not a fraction of a minute. */
export const DEFAULT_MAX_MARGIN_MS = 1_000;
/** A non-idempotent request only reuses a socket idle for at most this share of the limit. */
export const DEFAULT_UNSAFE_REUSE_RATIO = 0.5;
/** A learned close is forgotten after this long without being seen again. */
export const DEFAULT_LEARNED_TTL_MS = 15 * 60_000;

export interface KeepAliveOptions {
  defaultIdleMs?: number;
  marginRatio?: number;
  maxMarginMs?: number;
  unsafeReuseRatio?: number;
  learnedTtlMs?: number;
}

/** `serverMs` less the margin: the longest a client should idle a socket that the server closes at `serverMs`. */
export function safelyBelow(serverMs: number, marginRatio = DEFAULT_MARGIN_RATIO, maxMarginMs = DEFAULT_MAX_MARGIN_MS): number {
  return Math.max(0, Math.floor(serverMs - Math.min(maxMarginMs, serverMs * marginRatio)));
}

/** Parses the `timeout=` directive of a `Keep-Alive` header (RFC 2068 §19.7.1.1) into milliseconds. */
export function parseKeepAliveHint(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /(?:^|[\s,;])timeout\s*=\s*(\d+)/i.exec(value);
  return match?.[1] === undefined ? undefined : Number(match[1]) * 1000;
}

/**
 * Per-origin keep-alive state. Pure: the caller passes the time in.
 *
 * @example
 * const ka = new KeepAliveAlignment();
 * ka.observeHint(5_000);          // server said Keep-Alive: timeout=5
 * ka.idleLimitMs(now);            // 4000
 * ka.observeIdleClose(1_000, now); // server closed a socket idle for 1 s
 * ka.idleLimitMs(now);            // 750
 */
export class KeepAliveAlignment {
  readonly #opts: Required<KeepAliveOptions>;
  #hintMs: number | undefined;
  #learnedMs: number | undefined;
  #learnedAt = 0;

  constructor(options: KeepAliveOptions = {}) {
    this.#opts = {
      defaultIdleMs: options.defaultIdleMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      marginRatio: options.marginRatio ?? DEFAULT_MARGIN_RATIO,
      maxMarginMs: options.maxMarginMs ?? DEFAULT_MAX_MARGIN_MS,
      unsafeReuseRatio: options.unsafeReuseRatio ?? DEFAULT_UNSAFE_REUSE_RATIO,
      learnedTtlMs: options.learnedTtlMs ?? DEFAULT_LEARNED_TTL_MS,
    };
  }

  /** The most recent `Keep-Alive: timeout=` hint, in ms. */
  get hintMs(): number | undefined {
    return this.#hintMs;
  }

  /** The shortest idle time after which the server was seen closing a socket, in ms. */
  learnedMs(now: number): number | undefined {
    if (this.#learnedMs !== undefined && now - this.#learnedAt > this.#opts.learnedTtlMs) this.#learnedMs = undefined;
    return this.#learnedMs;
  }

  /** Records the server's hint from the latest response; `undefined` when it sent none. */
  observeHint(hintMs: number | undefined): void {
    this.#hintMs = hintMs;
  }

  /** Records that the server closed a socket that had been idle for `idleMs`. */
  observeIdleClose(idleMs: number, now: number): void {
    const current = this.learnedMs(now);
    if (current === undefined || idleMs <= current) {
      this.#learnedMs = idleMs;
      this.#learnedAt = now;
    }
  }

  /** How long an idle socket to this origin may stay open. 0 means: do not reuse. */
  idleLimitMs(now: number): number {
    const { defaultIdleMs, marginRatio, maxMarginMs } = this.#opts;
    let limit = defaultIdleMs;
    if (this.#hintMs !== undefined) limit = Math.min(limit, safelyBelow(this.#hintMs, marginRatio, maxMarginMs));
    const learned = this.learnedMs(now);
    if (learned !== undefined) limit = Math.min(limit, safelyBelow(learned, marginRatio, maxMarginMs));
    return limit;
  }

  /**
   * Whether a request that must not be sent twice may be written to a socket
   * that has been idle for `idleMs`. Only sockets idle well under the limit
   * qualify, so such a request practically never meets a server-side close.
   */
  maySendUnsafe(idleMs: number, now: number): boolean {
    return idleMs <= this.idleLimitMs(now) * this.#opts.unsafeReuseRatio;
  }
}
