import { systemClock, type Clock, type ClockTimer } from 'holdfast/internal/clock.js';
import type { Socket } from 'node:net';
import type { CloseReason } from './connection-tracker.js';
import { detach, type DirectReads } from './direct-reads.js';

export interface SpliceTimeouts {
  /** No byte either way for this long ends the pair (0: never). */
  idleMs: number;
  /** After the first FIN, the other direction has this long to finish (0: no bound). */
  halfCloseMs: number;
  /** The pair's age limit, counted from now (0: none). */
  lifetimeMs: number;
}

export interface SpliceEvents {
  /** One side sent FIN; the other direction still flows. */
  onHalfClose(): void;
  /** Both sockets have closed (their file descriptors are released). Called once. */
  onEnd(reason: CloseReason): void;
}

/**
 * Forwards bytes both ways between two connected sockets, with backpressure, until both
 * have closed, and tells why it ended.
 *
 * - Half-close is carried through: a FIN from one side ends only the other side's writable
 *   half (both sockets are `allowHalfOpen`), and the other direction keeps flowing for up to
 *   `halfCloseMs`. Killing both on the first FIN breaks protocols that send their last
 *   request and then read (SmartProxy's "bilateral cleanup" bug).
 * - A socket that fails (RST, error) destroys the other side at once.
 * - Idleness is checked, not timed per chunk: each chunk only sets a flag, and one timer per
 *   connection looks at it every idleMs / 2; two quiet looks in a row end the pair, so a
 *   silent connection closes between idleMs and 1.5 × idleMs after its last byte. (A socket
 *   inactivity timer would be refreshed on every read and write, a cost per chunk that a
 *   bare `pipe()` does not pay.)
 * - Bytes are not counted per chunk: the sockets' `bytesRead` / `bytesWritten` already are.
 *
 * The caller has attached `'error'` listeners to both sockets before this; errors are also
 * observed here, to name the reason.
 */
export class Splice {
  readonly #client: Socket;
  readonly #backend: Socket;
  readonly #timeouts: SpliceTimeouts;
  readonly #events: SpliceEvents;
  #reason: CloseReason | undefined;
  /** Who sent the first FIN: the reason, unless a failure or a timeout ends the pair first. */
  #finReason: CloseReason | undefined;
  #open = 2;
  #ended = false;
  #halfClosed = false;
  #graceTimer: ClockTimer | undefined;
  #idleTimer: ClockTimer | undefined;
  /** Set by every chunk either way; cleared by each idle check. */
  #active = false;
  #quietChecks = 0;
  #lifetimeTimer: ClockTimer | undefined;

  readonly #backendReads: DirectReads | undefined;
  readonly #clock: Clock;

  /**
   * `reads`: the backend was dialled with direct reads (direct-reads.ts), not 'data' events.
   * `clock`: the idle, lifetime and half-close timers (unref'd), a fake one in tests.
   */
  constructor(client: Socket, backend: Socket, timeouts: SpliceTimeouts, events: SpliceEvents, { reads, clock = systemClock }: { reads?: DirectReads; clock?: Clock } = {}) {
    this.#backendReads = reads;
    this.#clock = clock;
    this.#client = client;
    this.#backend = backend;
    this.#timeouts = timeouts;
    this.#events = events;
  }

  /** Starts forwarding. `first` is written to the backend before anything read from now on. */
  start(first: readonly Buffer[]): void {
    const client = this.#client;
    const backend = this.#backend;
    for (const chunk of first) backend.write(chunk);
    client.on('data', this.#onClientData);
    if (this.#backendReads === undefined) backend.on('data', this.#onBackendData);
    else {
      for (const chunk of this.#backendReads.early.splice(0)) this.#onBackendData(chunk);
      this.#backendReads.sink = this.#onBackendRead;
    }
    client.on('drain', this.#onClientDrain);
    backend.on('drain', this.#onBackendDrain);
    client.on('end', this.#onClientEnd);
    backend.on('end', this.#onBackendEnd);
    client.on('error', this.#onClientError);
    backend.on('error', this.#onBackendError);
    client.on('close', this.#onClose);
    backend.on('close', this.#onClose);
    if (this.#timeouts.idleMs > 0) this.#idleTimer = this.#clock.timer(this.#onIdleCheck, Math.max(1, this.#timeouts.idleMs / 2));
    if (this.#timeouts.lifetimeMs > 0) this.#lifetimeTimer = this.#clock.timer(this.#onLifetime, this.#timeouts.lifetimeMs);
    client.resume();
    backend.resume();
    // A paused socket still emits 'end' when a FIN arrives with nothing buffered: a client
    // may have sent its last byte and FIN while the backend was being dialled.
    if (client.readableEnded) this.#onClientEnd();
    if (backend.readableEnded) this.#onBackendEnd();
    // Either side may already be gone (closed while the other was connecting): its 'close'
    // has been emitted, or will be.
    for (const socket of [client, backend]) {
      if (!socket.destroyed) continue;
      this.#fail(socket === client ? 'client-reset' : 'backend-reset');
      if (socket.closed) this.#onClose(true);
    }
  }

  /** Ends the pair now, with `reason` unless another was seen first. */
  destroy(reason: CloseReason): void {
    this.#fail(reason);
  }

  readonly #onClientData = (chunk: Buffer): void => {
    this.#active = true;
    if (!this.#backend.write(chunk)) this.#client.pause();
  };

  readonly #onBackendData = (chunk: Buffer): void => {
    this.#active = true;
    if (!this.#client.write(chunk)) this.#backend.pause();
  };

  /** A direct read: the chunk lives in the shared buffer, which a queued write must keep. */
  readonly #onBackendRead = (chunk: Buffer): boolean => {
    this.#active = true;
    const flushed = this.#client.write(chunk);
    if (this.#client.writableLength > 0) detach();
    return flushed;
  };

  readonly #onClientDrain = (): void => { this.#backend.resume(); };
  readonly #onBackendDrain = (): void => { this.#client.resume(); };

  readonly #onClientEnd = (): void => {
    this.#finReason ??= 'client-closed';
    if (!this.#backend.destroyed) this.#backend.end();
    this.#halfClose();
  };

  readonly #onBackendEnd = (): void => {
    this.#finReason ??= 'backend-closed';
    if (!this.#client.destroyed) this.#client.end();
    this.#halfClose();
  };

  readonly #onClientError = (): void => { this.#fail('client-reset'); };
  readonly #onBackendError = (): void => { this.#fail('backend-reset'); };
  readonly #onIdleCheck = (): void => {
    if (this.#active) this.#quietChecks = 0;
    else if (++this.#quietChecks >= 2) return this.#fail('idle-timeout');
    this.#active = false;
    this.#idleTimer?.refresh();
  };
  readonly #onLifetime = (): void => { this.#fail('max-lifetime'); };
  readonly #onGrace = (): void => { this.#fail('half-close-timeout'); };

  /**
   * A socket closed. A clean close comes after its FIN both ways; any other close (an error,
   * a destroy) takes the other side down too.
   */
  readonly #onClose = (hadError: boolean): void => {
    if (hadError || !this.#halfClosed) this.#fail(this.#client.destroyed ? 'client-reset' : 'backend-reset');
    if (--this.#open === 0) this.#finish();
  };

  #halfClose(): void {
    if (this.#halfClosed) return;
    this.#halfClosed = true;
    if (this.#timeouts.halfCloseMs > 0) this.#graceTimer = this.#clock.timer(this.#onGrace, this.#timeouts.halfCloseMs);
    this.#events.onHalfClose();
  }

  #fail(reason: CloseReason): void {
    this.#reason ??= reason;
    this.#client.destroy();
    this.#backend.destroy();
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#graceTimer?.cancel();
    this.#lifetimeTimer?.cancel();
    this.#idleTimer?.cancel();
    this.#events.onEnd(this.#reason ?? this.#finReason ?? 'client-closed');
  }
}
