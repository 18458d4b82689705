import type { Socket } from 'node:net';
import { buildConnector, Client } from 'undici';
import type { Clock } from '../clock.js';
import { headerOf, type ParsedHeaders } from '../http/headers.js';
import type { Handler } from './handler.js';
import type { OriginState } from './origin-state.js';
import { FRESH_CONNECTION, hasReplayableBody, isRetrySafe, type HoldfastDispatchOptions } from './request-facts.js';
import { SocketWatch, type SocketOwner, type SocketRecord } from './socket-watch.js';

/** undici keeps idle sockets this long on its own; holdfast retires them far earlier. */
const UNDICI_IDLE_CEILING_MS = 600_000;

/** Live sockets across every tracked client, so that tests and operators can see leaks. */
export interface SocketCounter {
  opened(): void;
  closed(): void;
}

export interface TrackedClientOptions extends Client.Options {
  state: OriginState;
  clock: Clock;
  sockets: SocketCounter;
}

/**
 * An undici `Client` (one socket at a time) that knows its socket's history,
 * and so can:
 * - retire the socket once it has idled for the origin's limit;
 * - learn the server's idle timeout from closes of idle sockets, and what it kept;
 * - let one socket idle past a learned limit now and then, to see whether it still holds;
 * - refuse to write a non-idempotent request to a socket that has idled too long;
 * - record, on every failure, whether the socket was reused and whether any
 *   response byte arrived (the facts that make a replay safe).
 * The decisions live in `OriginState`'s policies; this class only applies them.
 */
export class TrackedClient extends Client implements SocketOwner {
  readonly #state: OriginState;
  readonly #clock: Clock;
  #current: SocketRecord | undefined;
  #inFlight = 0;

  constructor(origin: string | URL, { state, clock, sockets, connect, ...options }: TrackedClientOptions) {
    // allowH2 reaches the connector too: it decides what ALPN offers (undici's default offers h2).
    const allowH2 = options.allowH2 === true;
    const base = typeof connect === 'function' ? connect : buildConnector({ ...connect, allowH2 });
    // The connector is built before `this` exists; it reaches the client through this holder.
    const owner: { client?: TrackedClient } = {};
    super(origin, {
      ...options,
      allowH2,
      keepAliveTimeout: UNDICI_IDLE_CEILING_MS,
      keepAliveMaxTimeout: UNDICI_IDLE_CEILING_MS,
      keepAliveTimeoutThreshold: 1,
      connect(opts, callback) {
        // Per call too: a proxy's tunnel connector reads it there (undici's ProxyAgent).
        base({ ...opts, allowH2 } as typeof opts, (err, socket) => {
          if (socket != null) {
            sockets.opened();
            socket.once('close', () => sockets.closed());
            if (owner.client !== undefined) owner.client.#adopt(socket);
          }
          (callback as (e: Error | null, s: Socket | null) => void)(err, socket);
        });
      },
    });
    owner.client = this;
    this.#state = state;
    this.#clock = clock;
  }

  #adopt(socket: Socket): void {
    const record: SocketRecord = {
      socket, served: 0, idleSince: undefined, idleAtWrite: undefined, bytesAtWrite: 0, bytesAtIdle: 0,
      retiredByUs: false, peerClosed: false, willClose: false, cancelIdleTimer: undefined, idleTimerDue: 0, probeUntil: 0, writtenAt: 0,
    };
    this.#current = record;
    this.#state.socketsOpen++;
    // Listeners attached in the tick the socket is handed over; undici has its own 'error' handler.
    socket.once('end', () => { record.peerClosed = true; });
    socket.on('error', (err: NodeJS.ErrnoException) => { if (err.code === 'ECONNRESET') record.peerClosed = true; });
    socket.once('close', () => this.#onClose(record));
  }

  #onClose(record: SocketRecord): void {
    record.cancelIdleTimer?.();
    this.#state.socketsOpen--;
    if (record.idleSince !== undefined) this.#state.socketsIdle--;
    if (this.#current === record) this.#current = undefined;
    // Only a close of a socket that sat idle in the pool, with no request on it, can be the
    // server's idle timeout. Anything the server sent while it idled (a 408) closes it too:
    // undici destroys such a socket before its 'end'.
    if (record.retiredByUs || record.willClose || record.served === 0 || record.idleSince === undefined) return;
    if (!record.peerClosed && record.socket.bytesRead === record.bytesAtIdle) return;
    this.#observeIdleClose(this.#clock.now() - record.idleSince);
  }

  #observeIdleClose(idleMs: number): void {
    const now = this.#clock.now();
    const ka = this.#state.keepAlive;
    const before = ka.learnedMs(now);
    const verdict = ka.observeIdleClose(idleMs, now);
    const learnedMs = ka.learnedMs(now);
    const { origin, telemetry } = this.#state;
    telemetry.idleClose({ origin, idleMs, verdict, learnedMs });
    if (learnedMs !== undefined && learnedMs !== before) telemetry.idleCloseLearned({ origin, idleMs: learnedMs, limitMs: ka.idleLimitMs(now) });
  }

  #retire(record: SocketRecord, reason: string): void {
    if (record.retiredByUs || record.socket.destroyed) return;
    record.retiredByUs = true;
    record.cancelIdleTimer?.();
    this.#state.telemetry.socketRetired({ origin: this.#state.origin, reason, idleMs: record.idleSince === undefined ? 0 : this.#clock.now() - record.idleSince });
    record.socket.destroy();
  }

  /**
   * Marks the socket idle. A pending retirement timer is kept unless the limit now
   * asks for an earlier one, so a busy socket does not create and clear a timer per
   * request. When the timer fires it retires the socket if it has idled for the
   * limit, or re-arms for the rest.
   */
  #becameIdle(record: SocketRecord): void {
    const now = this.#clock.now();
    if (record.idleSince === undefined) this.#state.socketsIdle++;
    record.idleSince = now;
    record.bytesAtIdle = record.socket.bytesRead;
    const limit = this.#state.keepAlive.idleLimitMs(now);
    if (record.cancelIdleTimer === undefined || record.idleTimerDue > now + limit) this.#armIdleTimer(record, limit);
  }

  #armIdleTimer(record: SocketRecord, ms: number): void {
    record.cancelIdleTimer?.();
    record.idleTimerDue = this.#clock.now() + ms;
    record.cancelIdleTimer = this.#clock.schedule(() => this.#idleTimerFired(record), ms);
  }

  /**
   * Retires the socket if it has idled for the limit, or re-arms for the rest. Now and then
   * (KeepAliveAlignment.probeUntilMs) a socket at a learned limit is let idle on, up to what
   * the hint and the default allow: if the server keeps it that long, the learned close was
   * not its idle timeout, and the limit goes back up.
   */
  #idleTimerFired(record: SocketRecord): void {
    record.cancelIdleTimer = undefined;
    if (record.idleSince === undefined || record.socket.destroyed) return;
    const now = this.#clock.now();
    const idleMs = now - record.idleSince;
    const ka = this.#state.keepAlive;
    if (record.probeUntil > 0) {
      if (idleMs < record.probeUntil) return this.#armIdleTimer(record, record.probeUntil - idleMs);
      ka.observeKept(idleMs, now);
      return this.#retire(record, 'probe-outlived');
    }
    const remaining = ka.idleLimitMs(now) - idleMs;
    if (remaining > 0) return this.#armIdleTimer(record, remaining);
    const probeUntil = ka.probeUntilMs(now);
    if (probeUntil <= idleMs) return this.#retire(record, 'idle-limit');
    record.probeUntil = probeUntil;
    this.#armIdleTimer(record, probeUntil - idleMs);
  }

  /** Retires the current socket before `opts` is written to it, if it must not carry it. */
  #guard(opts: HoldfastDispatchOptions): void {
    const record = this.#current;
    if (record === undefined || record.idleSince === undefined || this.#inFlight > 0) return;
    const now = this.#clock.now();
    const idleMs = now - record.idleSince;
    const ka = this.#state.keepAlive;
    // A probe (see #idleTimerFired) may carry a request that is safe to send again.
    if (idleMs >= ka.idleLimitMs(now) && !(record.probeUntil > idleMs && isRetrySafe(opts))) this.#retire(record, 'idle-limit-late');
    else if (opts[FRESH_CONNECTION] === true && record.served > 0) this.#retire(record, 'fresh-connection');
    else if (!isRetrySafe(opts) && (!ka.maySendUnsafe(idleMs, now) || this.#mayBeDropped(idleMs))) this.#retire(record, 'unsafe-request');
  }

  override dispatch(opts: HoldfastDispatchOptions, handler: Handler): boolean {
    this.#guard(opts);
    this.#inFlight++;
    return super.dispatch(opts, new SocketWatch(this, handler, opts));
  }

  /** Called by `SocketWatch` as its request is written. */
  attach(): SocketRecord | undefined {
    const record = this.#current;
    if (record !== undefined) {
      const now = this.#clock.now();
      record.writtenAt = now;
      record.idleAtWrite = record.idleSince === undefined ? undefined : now - record.idleSince;
      if (record.idleSince !== undefined) this.#state.socketsIdle--;
      record.idleSince = undefined;
      record.bytesAtWrite = record.socket.bytesRead;
      record.probeUntil = 0;
    }
    return record;
  }

  /** Called by `SocketWatch` once its request has ended, either way. */
  detach(record: SocketRecord | undefined, completed: boolean): void {
    this.#inFlight--;
    if (record === undefined) return;
    if (completed) record.served++;
    if (this.#inFlight === 0 && this.#current === record && !record.socket.destroyed && !record.willClose) this.#becameIdle(record);
  }

  /**
   * Silent-drop detection (docs/guides/client.md#silent-drops). A NAT or a load balancer that
   * forgets an idle flow sends no FIN and no reset: a request written to such a socket waits
   * for nothing. So a request safe to repeat, written to a socket idle for `afterIdleMs`,
   * must see a first response byte within `latencyMultiplier ×` the slowest recent first byte
   * (at least `minTimeoutMs`); otherwise the socket is destroyed with HF_ERR_SILENT_DROP, which
   * replay sends again at once on a fresh connection.
   */
  watchFirstByte(record: SocketRecord, opts: HoldfastDispatchOptions): (() => void) | undefined {
    const config = this.#state.silentDrop;
    const idleMs = record.idleAtWrite;
    if (config === false || idleMs === undefined || !this.#mayBeDropped(idleMs) || !isRetrySafe(opts) || !hasReplayableBody(opts)) return undefined;
    const timeoutMs = Math.max(config.minTimeoutMs, Math.ceil(config.latencyMultiplier * this.#state.firstByte.value(record.writtenAt)));
    return this.#clock.schedule(() => {
      if (record.socket.destroyed || record.retiredByUs) return;
      record.retiredByUs = true; // our close: it teaches nothing about the server's idle timeout
      this.#state.telemetry.socketRetired({ origin: this.#state.origin, reason: 'silent-drop', idleMs });
      const err = new Error(`no response byte within ${timeoutMs} ms on a connection that had idled ${idleMs} ms: the flow was most likely dropped on the way (a NAT or a load balancer)`);
      record.socket.destroy(Object.assign(err, { code: 'HF_ERR_SILENT_DROP' }));
    }, timeoutMs);
  }

  /**
   * A socket idle this long may have been dropped silently on the way, and a request that
   * cannot be sent again would then wait for its deadline: it goes on a new connection.
   */
  #mayBeDropped(idleMs: number): boolean {
    const config = this.#state.silentDrop;
    return config !== false && idleMs >= config.afterIdleMs;
  }

  firstByteArrived(record: SocketRecord | undefined): void {
    if (record !== undefined) this.#state.firstByte.record(this.#clock.now() - record.writtenAt, record.writtenAt);
  }

  /**
   * Called by `SocketWatch` when its request upgraded the socket (a WebSocket): the socket
   * now belongs to the caller, and is neither idle nor retired by this client.
   */
  handOver(record: SocketRecord | undefined): void {
    this.#inFlight--;
    if (record === undefined) return;
    record.willClose = true; // its close says nothing about the server's idle timeout
    record.cancelIdleTimer?.();
    record.cancelIdleTimer = undefined;
    if (this.#current === record) this.#current = undefined;
  }

  /**
   * Called by `SocketWatch` as a response starts. Reads `Keep-Alive` and `Connection` (undici 8
   * has parsed them already). An answer on a socket written after an idle spell proves the
   * server kept it that long; a 408 there is the server's idle timeout, met as the request was
   * written (its idle time at the write is the evidence).
   */
  responseStarted(record: SocketRecord | undefined, statusCode: number, headers: ParsedHeaders): void {
    const connection = headers.connection;
    if (record !== undefined && connection !== undefined && connection !== 'keep-alive' && /\bclose\b/i.test(String(connection))) record.willClose = true;
    this.#state.observeHint(headerOf(headers, 'keep-alive'));
    const idleMs = record?.idleAtWrite;
    if (idleMs === undefined || record!.served === 0) return;
    if (statusCode === 408) this.#observeIdleClose(idleMs);
    else if (idleMs > this.#state.keepAlive.minLearnedMs) this.#state.keepAlive.observeKept(idleMs, this.#clock.now());
  }
}
