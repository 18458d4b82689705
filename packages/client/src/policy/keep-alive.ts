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
 *
 * A close is learned from evidence only (issue 20): a close of a socket that sat idle with
 * no request on it, at least `minLearnedMs` after its last response, not outlived by
 * another socket, and seen `learnAfter` separate times. A restart, a reset during a
 * request or a close after the Nth response teaches nothing, and a probe that outlives the
 * learned value raises the limit again.
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
/**
 * A close this soon after a socket's last response says nothing about an idle timeout: it is
 * a close after the Nth response (a request limit) or a restart. No server worth aligning to
 * closes idle connections sooner.
 */
export const DEFAULT_MIN_LEARNED_MS = 100;
/** Separate idle closes seen before a learned value sets the limit: one odd close teaches nothing. */
export const DEFAULT_LEARN_AFTER = 2;
/** Closes this near in time are one observation: a restart or a network blip closes every socket at once. */
const BURST_MS = 1_000;
/** The learned value is the longest of this many recent observations (see `learnedMs`). */
const WINDOW = 3;
/** A socket is let idle past a learned limit, to see whether the server keeps it, at most this often. */
const PROBE_EVERY_MS = 60_000;

export interface KeepAliveOptions {
  defaultIdleMs?: number;
  marginRatio?: number;
  maxMarginMs?: number;
  unsafeReuseRatio?: number;
  learnedTtlMs?: number;
  minLearnedMs?: number;
  learnAfter?: number;
}

/** Why an observed close did or did not count (for telemetry and tests). */
export type IdleCloseVerdict = 'counted' | 'too-soon' | 'outlived';

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
 * ka.observeIdleClose(1_000, now); // server closed a socket idle for 1 s: one observation
 * ka.idleLimitMs(now);            // 4000
 * ka.observeIdleClose(1_000, now + 5_000); // and again: learned
 * ka.idleLimitMs(now + 5_000);    // 750
 */
export class KeepAliveAlignment {
  readonly #opts: Required<KeepAliveOptions>;
  #hintMs: number | undefined;
  /** Recent idle closes, oldest first; at most WINDOW. */
  #closes: Array<{ idleMs: number; at: number }> = [];
  /** The longest idle after which the server was seen keeping a socket, and when. */
  #provenMs = 0;
  #provenAt = 0;
  #lastProbeAt = Number.NEGATIVE_INFINITY;

  constructor(options: KeepAliveOptions = {}) {
    this.#opts = {
      defaultIdleMs: options.defaultIdleMs ?? DEFAULT_IDLE_TIMEOUT_MS,
      marginRatio: options.marginRatio ?? DEFAULT_MARGIN_RATIO,
      maxMarginMs: options.maxMarginMs ?? DEFAULT_MAX_MARGIN_MS,
      unsafeReuseRatio: options.unsafeReuseRatio ?? DEFAULT_UNSAFE_REUSE_RATIO,
      learnedTtlMs: options.learnedTtlMs ?? DEFAULT_LEARNED_TTL_MS,
      minLearnedMs: options.minLearnedMs ?? DEFAULT_MIN_LEARNED_MS,
      learnAfter: options.learnAfter ?? DEFAULT_LEARN_AFTER,
    };
  }

  /** Closes sooner than this after a response are not idle closes. */
  get minLearnedMs(): number {
    return this.#opts.minLearnedMs;
  }

  /** The most recent `Keep-Alive: timeout=` hint, in ms. */
  get hintMs(): number | undefined {
    return this.#hintMs;
  }

  /**
   * The server's idle timeout as learned from its closes, in ms, once `learnAfter` separate
   * closes were seen within the TTL. It is the *longest* of the recent ones: a server closes
   * an idle socket at its timeout, never later, so a close seen earlier than that was
   * something else (a restart, a deploy, a blip) and must not set the limit.
   */
  learnedMs(now: number): number | undefined {
    this.#expire(now);
    if (this.#closes.length < this.#opts.learnAfter) return undefined;
    let longest = 0;
    for (const close of this.#closes) longest = Math.max(longest, close.idleMs);
    return longest;
  }

  /** The longest idle after which the server was seen keeping a socket (within the TTL), in ms. */
  provenMs(now: number): number {
    this.#expire(now);
    return this.#provenMs;
  }

  #expire(now: number): void {
    const ttl = this.#opts.learnedTtlMs;
    while (this.#closes.length > 0 && now - this.#closes[0]!.at > ttl) this.#closes.shift();
    if (this.#provenMs > 0 && now - this.#provenAt > ttl) this.#provenMs = 0;
  }

  /** Records the server's hint from the latest response; `undefined` when it sent none. */
  observeHint(hintMs: number | undefined): void {
    this.#hintMs = hintMs;
  }

  /**
   * Records that the server closed a socket that sat idle, with no request on it, for
   * `idleMs` (the caller makes sure of that much: a close during a request is never one).
   * A close sooner than `minLearnedMs` after the last response, or sooner than the server
   * was seen keeping a socket, is not its idle timeout.
   */
  observeIdleClose(idleMs: number, now: number): IdleCloseVerdict {
    if (idleMs < this.#opts.minLearnedMs) return 'too-soon';
    if (idleMs <= this.provenMs(now)) return 'outlived';
    const last = this.#closes.at(-1);
    if (last !== undefined && now - last.at < BURST_MS) {
      last.idleMs = Math.max(last.idleMs, idleMs);
      last.at = now;
    } else {
      this.#closes.push({ idleMs, at: now });
      if (this.#closes.length > WINDOW) this.#closes.shift();
    }
    return 'counted';
  }

  /**
   * Records that the server kept a socket idle for `idleMs`: a request written after that
   * idle was answered, or a probe outlived it. Closes seen at or under it were not the idle
   * timeout, and are forgotten: this is how the limit recovers upward.
   */
  observeKept(idleMs: number, now: number): void {
    if (idleMs <= this.provenMs(now)) return;
    this.#provenMs = idleMs;
    this.#provenAt = now;
    this.#closes = this.#closes.filter((close) => close.idleMs > idleMs);
  }

  /**
   * How long one idle socket may be let live past a learned limit to test it, or 0 for no
   * test now: at most once per PROBE_EVERY_MS, and only while a learned close holds the
   * limit under what the hint and the default allow.
   */
  probeUntilMs(now: number): number {
    const learned = this.learnedMs(now);
    if (learned === undefined || now - this.#lastProbeAt < PROBE_EVERY_MS) return 0;
    const unlearned = this.#unlearnedLimitMs();
    if (unlearned <= safelyBelow(learned, this.#opts.marginRatio, this.#opts.maxMarginMs)) return 0;
    this.#lastProbeAt = now;
    return unlearned;
  }

  #unlearnedLimitMs(): number {
    const { defaultIdleMs, marginRatio, maxMarginMs } = this.#opts;
    return this.#hintMs === undefined ? defaultIdleMs : Math.min(defaultIdleMs, safelyBelow(this.#hintMs, marginRatio, maxMarginMs));
  }

  /** How long an idle socket to this origin may stay open. 0 means: do not reuse. */
  idleLimitMs(now: number): number {
    const learned = this.learnedMs(now);
    const limit = this.#unlearnedLimitMs();
    return learned === undefined ? limit : Math.min(limit, safelyBelow(learned, this.#opts.marginRatio, this.#opts.maxMarginMs));
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
