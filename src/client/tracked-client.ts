import type { Socket } from 'node:net';
import { buildConnector, Client, type Dispatcher } from 'undici';
import type { Clock } from '../clock.js';
import { bytesEqualLower, headerBytes } from './handler.js';
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

  override dispatch(opts: HoldfastDispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
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

  /**
   * Reads `Keep-Alive` and `Connection` from every response, so it avoids decoding:
   * both names are 10 bytes and differ in their first letter; the usual connection
   * value, `keep-alive`, is also 10 bytes and is skipped without decoding.
   */
  observeHeaders(record: SocketRecord | undefined, headers: Buffer[] | string[] | null): void {
    const rawHeaders = headerBytes(headers);
    let hint: Buffer | undefined;
    for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!;
      if (name.length !== 10) continue;
      const first = name[0]! | 0x20;
      const value = rawHeaders[i + 1]!;
      if (first === 0x6b /* k */ && bytesEqualLower(name, 'keep-alive')) hint = value;
      else if (first === 0x63 /* c */ && value.length !== 10 && record !== undefined && bytesEqualLower(name, 'connection')
        && /\bclose\b/i.test(value.toString('latin1'))) record.willClose = true;
    }
    this.#state.observeHintBytes(hint);
  }


}

/** Wraps one request's (legacy-shaped) handler to tell its client what happened on the socket. */
class SocketWatch implements Dispatcher.DispatchHandler {
  readonly #client: TrackedClient;
  readonly #inner: Dispatcher.DispatchHandler;
  #record: SocketRecord | undefined;
  #reused = false;
  #written = false;
  #ended = false;

  constructor(client: TrackedClient, inner: Dispatcher.DispatchHandler) {
    this.#client = client;
    this.#inner = inner;
  }

  #end(completed: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#client.detach(this.#record, completed);
  }

  onConnect(abort: (err?: Error) => void, context?: object): void {
    this.#written = true;
    this.#record = this.#client.attach();
    this.#reused = (this.#record?.served ?? 0) > 0;
    // undici passes a context object that its typings omit.
    (this.#inner.onConnect as ((a: typeof abort, c?: object) => void) | undefined)?.call(this.#inner, abort, context);
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    this.#client.observeHeaders(this.#record, headers);
    return this.#inner.onHeaders?.(statusCode, headers, resume, statusText) ?? true;
  }

  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: import('node:stream').Duplex): void {
    if (!this.#ended) {
      this.#ended = true;
      this.#client.handOver(this.#record);
    }
    this.#inner.onUpgrade?.(statusCode, headers, socket);
  }

  onResponseStarted(): void {
    this.#inner.onResponseStarted?.();
  }

  onData(chunk: Buffer): boolean {
    return this.#inner.onData?.(chunk) ?? true;
  }

  onBodySent(chunkSize: number, totalBytesSent: number): void {
    this.#inner.onBodySent?.(chunkSize, totalBytesSent);
  }

  onComplete(trailers: string[] | null): void {
    this.#end(true);
    this.#inner.onComplete?.(trailers);
  }

  onError(err: Error): void {
    const record = this.#record;
    recordFacts(err, {
      written: this.#written,
      reused: this.#reused,
      responseBytes: record !== undefined && record.socket.bytesRead > record.bytesAtWrite,
      idleMs: record?.idleAtWrite,
    });
    this.#end(false);
    this.#inner.onError?.(err);
  }
}
