import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ParsedHeaders } from '../http/headers.js';
import type { Controller, Handler } from './handler.js';
import { recordFacts, recordResponseFacts } from './request-facts.js';

/** What a tracked client knows of its one socket. */
export interface SocketRecord {
  readonly socket: Socket;
  /** Exchanges completed on this socket. */
  served: number;
  /** Clock time the socket last became idle; undefined while a request is on it. */
  idleSince: number | undefined;
  /** Idle time at the moment the current request was written. */
  idleAtWrite: number | undefined;
  bytesAtWrite: number;
  /** Bytes read when the socket last became idle: more at its close means the server spoke (a 408) while it idled. */
  bytesAtIdle: number;
  retiredByUs: boolean;
  peerClosed: boolean;
  /** The last response said `Connection: close`: the server closes this socket on purpose. */
  willClose: boolean;
  cancelIdleTimer: (() => void) | undefined;
  /** Clock time the pending retirement timer fires. */
  idleTimerDue: number;
  /** Idle time this socket may reach as a probe past a learned limit; 0 when it is not one. */
  probeUntil: number;
  /** Clock time the current request was written. */
  writtenAt: number;
}

/** The client side of a `SocketWatch`: what `TrackedClient` does with what the watch sees. */
export interface SocketOwner {
  attach(): SocketRecord | undefined;
  detach(record: SocketRecord | undefined, completed: boolean): void;
  handOver(record: SocketRecord | undefined): void;
  responseStarted(record: SocketRecord | undefined, statusCode: number, headers: ParsedHeaders): void;
  /** Arms the silent-drop timer of a request on a reused socket, when it needs one; returns its cancel. */
  watchFirstByte(record: SocketRecord, opts: Dispatcher.DispatchOptions): (() => void) | undefined;
  firstByteArrived(record: SocketRecord | undefined): void;
}

/** Wraps one request's handler to tell its client what happened on the socket. */
export class SocketWatch implements Handler {
  readonly #client: SocketOwner;
  readonly #inner: Handler;
  readonly #opts: Dispatcher.DispatchOptions;
  #record: SocketRecord | undefined;
  #cancelFirstByte: (() => void) | undefined;
  #reused = false;
  #written = false;
  #sent = false;
  #started = false;
  #ended = false;

  constructor(client: SocketOwner, inner: Handler, opts: Dispatcher.DispatchOptions) {
    this.#client = client;
    this.#inner = inner;
    this.#opts = opts;
  }

  #end(completed: boolean): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#cancelFirstByte?.();
    this.#client.detach(this.#record, completed);
  }

  onRequestStart(controller: Controller, context: unknown): void {
    this.#written = true;
    this.#record = this.#client.attach();
    this.#reused = (this.#record?.served ?? 0) > 0;
    if (this.#reused) this.#cancelFirstByte = this.#client.watchFirstByte(this.#record!, this.#opts);
    this.#inner.onRequestStart?.(controller, context);
  }

  onResponseStart(controller: Controller, statusCode: number, headers: ParsedHeaders, statusText?: string): void {
    // A 408 on a reused socket: the server timed the idle connection out as the request was
    // written (RFC 9110 §15.5.9: it did not receive a complete request). The retry
    // interceptor reads these facts to send the request again on a fresh connection.
    if (statusCode === 408 && this.#reused) recordResponseFacts(headers, { reused: true, requestSent: this.#sent, idleMs: this.#record?.idleAtWrite });
    this.#client.responseStarted(this.#record, statusCode, headers);
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
    this.#started = true;
    this.#cancelFirstByte?.();
    this.#cancelFirstByte = undefined;
    this.#client.firstByteArrived(this.#record);
    this.#inner.onResponseStarted?.();
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    this.#inner.onResponseData?.(controller, chunk);
  }

  onBodySent(chunk: Buffer): void {
    this.#inner.onBodySent?.(chunk);
  }

  onRequestSent(): void {
    this.#sent = true;
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
      // On HTTP/2 the socket carries every stream and the session's own frames: only this
      // stream's start counts. On HTTP/1.1 any byte after the write was this response's.
      responseBytes: this.#started || (record !== undefined && (record.socket as { alpnProtocol?: unknown }).alpnProtocol !== 'h2' && record.socket.bytesRead > record.bytesAtWrite),
      idleMs: record?.idleAtWrite,
    });
    this.#end(false);
    this.#inner.onResponseError?.(controller, err);
  }
}
