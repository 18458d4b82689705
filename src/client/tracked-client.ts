import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { buildConnector, Client } from 'undici';
import type { Clock } from '../clock.js';
import { headerOf, type ParsedHeaders } from '../http/headers.js';
import type { Controller, Handler } from './handler.js';
import type { OriginState } from './origin-state.js';
import { FRESH_CONNECTION, isRetrySafe, recordFacts, type HoldfastDispatchOptions } from './request-facts.js';

/** undici keeps idle sockets this long on its own; holdfast retires them far earlier. */
const UNDICI_IDLE_CEILING_MS = 600_000;

/** Live sockets across every tracked client, so that tests and operators can see leaks. */
export interface SocketCounter {
  opened(): void;
  closed(): void;
}

interface SocketRecord {
  readonly socket: Socket;
  /** Exchanges completed on this socket. */
  served: number;
  /** Clock time the socket last became idle; undefined while a request is on it. */
  idleSince: number | undefined;
  /** Idle time at the moment the current request was written. */
  idleAtWrite: number | undefined;
  bytesAtWrite: number;
  retiredByUs: boolean;
  peerClosed: boolean;
  /** The last response said `Connection: close`: the server closes this socket on purpose. */
  willClose: boolean;
  cancelIdleTimer: (() => void) | undefined;
  /** Clock time the pending retirement timer fires. */
  idleTimerDue: number;
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
 * - learn the server's idle timeout from closes it sees;
 * - refuse to write a non-idempotent request to a socket that has idled too long;
 * - record, on every failure, whether the socket was reused and whether any
 *   response byte arrived (the facts that make a replay safe).
 * The decisions live in `OriginState`'s policies; this class only applies them.
 */
export class TrackedClient extends Client {
  readonly #state: OriginState;
  readonly #clock: Clock;
  #current: SocketRecord | undefined;
  #inFlight = 0;

  constructor(origin: string | URL, { state, clock, sockets, connect, ...options }: TrackedClientOptions) {
    const base = typeof connect === 'function' ? connect : buildConnector({ ...connect });
    // The connector is built before `this` exists; it reaches the client through this holder.
    const owner: { client?: TrackedClient } = {};
    super(origin, {
      ...options,
      // undici 8 offers h2 by ALPN by default. One socket per Client and keep-alive alignment
      // per socket are HTTP/1.1 ideas; HTTP/2 upstreams are designed in their own issue.
      allowH2: false,
      keepAliveTimeout: UNDICI_IDLE_CEILING_MS,
      keepAliveMaxTimeout: UNDICI_IDLE_CEILING_MS,
      keepAliveTimeoutThreshold: 1,
      connect(opts, callback) {
        base(opts, (err, socket) => {
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
      socket, served: 0, idleSince: undefined, idleAtWrite: undefined, bytesAtWrite: 0,
      retiredByUs: false, peerClosed: false, willClose: false, cancelIdleTimer: undefined, idleTimerDue: 0,
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
    if (record.retiredByUs || !record.peerClosed || record.willClose || record.served === 0) return;
    const now = this.#clock.now();
    // Idle in the pool, or written to after an idle spell and answered with nothing: either
    // way the server gave up on a connection that had been quiet this long.
    const idleMs = record.idleSince !== undefined ? now - record.idleSince
      : record.socket.bytesRead === record.bytesAtWrite ? record.idleAtWrite : undefined;
    if (idleMs === undefined) return;
    this.#state.keepAlive.observeIdleClose(idleMs, now);
    this.#state.telemetry.idleCloseLearned({ origin: this.#state.origin, idleMs, limitMs: this.#state.keepAlive.idleLimitMs(now) });
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
    const limit = this.#state.keepAlive.idleLimitMs(now);
    if (record.cancelIdleTimer === undefined || record.idleTimerDue > now + limit) this.#armIdleTimer(record, limit);
  }

  #armIdleTimer(record: SocketRecord, ms: number): void {
    record.cancelIdleTimer?.();
    record.idleTimerDue = this.#clock.now() + ms;
    record.cancelIdleTimer = this.#clock.schedule(() => {
      record.cancelIdleTimer = undefined;
      if (record.idleSince === undefined || record.socket.destroyed) return;
      const now = this.#clock.now();
      const remaining = this.#state.keepAlive.idleLimitMs(now) - (now - record.idleSince);
      if (remaining <= 0) this.#retire(record, 'idle-limit');
      else this.#armIdleTimer(record, remaining);
    }, ms);
  }

  /** Retires the current socket before `opts` is written to it, if it must not carry it. */
  #guard(opts: HoldfastDispatchOptions): void {
    const record = this.#current;
    if (record === undefined || record.idleSince === undefined || this.#inFlight > 0) return;
    const now = this.#clock.now();
    const idleMs = now - record.idleSince;
    const ka = this.#state.keepAlive;
    if (idleMs >= ka.idleLimitMs(now)) this.#retire(record, 'idle-limit-late');
    else if (opts[FRESH_CONNECTION] === true && record.served > 0) this.#retire(record, 'fresh-connection');
    else if (!isRetrySafe(opts) && !ka.maySendUnsafe(idleMs, now)) this.#retire(record, 'unsafe-request');
  }

  override dispatch(opts: HoldfastDispatchOptions, handler: Handler): boolean {
    this.#guard(opts);
    this.#inFlight++;
    return super.dispatch(opts, new SocketWatch(this, handler));
  }

  /** Called by `SocketWatch` as its request is written. */
  attach(): SocketRecord | undefined {
    const record = this.#current;
    if (record !== undefined) {
      record.idleAtWrite = record.idleSince === undefined ? undefined : this.#clock.now() - record.idleSince;
      if (record.idleSince !== undefined) this.#state.socketsIdle--;
      record.idleSince = undefined;
      record.bytesAtWrite = record.socket.bytesRead;
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

  /** Reads `Keep-Alive` and `Connection` from every response (undici 8 has parsed them already). */
  observeHeaders(record: SocketRecord | undefined, headers: ParsedHeaders): void {
    const connection = headers.connection;
    if (record !== undefined && connection !== undefined && connection !== 'keep-alive' && /\bclose\b/i.test(String(connection))) record.willClose = true;
    this.#state.observeHint(headerOf(headers, 'keep-alive'));
  }
}

/** Wraps one request's handler to tell its client what happened on the socket. */
class SocketWatch implements Handler {
  readonly #client: TrackedClient;
  readonly #inner: Handler;
  #record: SocketRecord | undefined;
  #reused = false;
  #written = false;
  #ended = false;

  constructor(client: TrackedClient, inner: Handler) {
    this.#client = client;
    this.#inner = inner;
  }

  #end(completed: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#client.detach(this.#record, completed);
  }

  onRequestStart(controller: Controller, context: unknown): void {
    this.#written = true;
    this.#record = this.#client.attach();
    this.#reused = (this.#record?.served ?? 0) > 0;
    this.#inner.onRequestStart?.(controller, context);
  }

  onResponseStart(controller: Controller, statusCode: number, headers: ParsedHeaders, statusText?: string): void {
    this.#client.observeHeaders(this.#record, headers);
    this.#inner.onResponseStart?.(controller, statusCode, headers, statusText);
  }

  onRequestUpgrade(controller: Controller, statusCode: number, headers: ParsedHeaders, socket: Duplex): void {
    if (!this.#ended) {
      this.#ended = true;
      this.#client.handOver(this.#record);
    }
    this.#inner.onRequestUpgrade?.(controller, statusCode, headers, socket);
  }

  onResponseStarted(): void {
    this.#inner.onResponseStarted?.();
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    this.#inner.onResponseData?.(controller, chunk);
  }

  onBodySent(chunk: Buffer): void {
    this.#inner.onBodySent?.(chunk);
  }

  onRequestSent(): void {
    this.#inner.onRequestSent?.();
  }

  onResponseEnd(controller: Controller, trailers: ParsedHeaders): void {
    this.#end(true);
    this.#inner.onResponseEnd?.(controller, trailers);
  }

  onResponseError(controller: Controller | null, err: Error): void {
    const record = this.#record;
    recordFacts(err, {
      written: this.#written,
      reused: this.#reused,
      responseBytes: record !== undefined && record.socket.bytesRead > record.bytesAtWrite,
      idleMs: record?.idleAtWrite,
    });
    this.#end(false);
    this.#inner.onResponseError?.(controller, err);
  }
}
