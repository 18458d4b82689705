import type { Dispatcher } from 'undici';
import { failureKind, REFUSED_UNPROCESSED_CODE, type FailureKind } from '../policy/failure-kinds.js';
import { isSafeToRepeat } from '../policy/retry-safety.js';
import { headerValue } from '../http/headers.js';

/**
 * What the transport knew about an attempt when it failed. Recorded by
 * `TrackedClient` on the error object, read by the replay and retry
 * interceptors: only the transport sees the socket, only the interceptors
 * decide.
 */
export interface AttemptFacts {
  /** The request reached `onRequestStart`, i.e. undici started writing it to a socket. */
  written: boolean;
  /** The socket had carried a complete exchange before this request. */
  reused: boolean;
  /** At least one response byte arrived on the socket after the request was written. */
  responseBytes: boolean;
  /** How long the socket had been idle when the request was written, in ms. */
  idleMs: number | undefined;
}

const factsByError = new WeakMap<object, AttemptFacts>();

export function recordFacts(err: unknown, facts: AttemptFacts): void {
  if (typeof err === 'object' && err !== null && !factsByError.has(err)) factsByError.set(err, facts);
}

export function factsOf(err: unknown): AttemptFacts | undefined {
  return typeof err === 'object' && err !== null ? factsByError.get(err) : undefined;
}

/** What the transport knew of a response that may not be the server's answer to the request. */
export interface ResponseFacts {
  /** The socket had carried a complete exchange before this request. */
  reused: boolean;
  /** The request had been written whole when the response began. */
  requestSent: boolean;
  /** How long the socket had been idle when the request was written, in ms. */
  idleMs: number | undefined;
}

const factsByHeaders = new WeakMap<object, ResponseFacts>();

/** Recorded by `SocketWatch` on a response's parsed headers (a fresh object per response). */
export function recordResponseFacts(headers: object, facts: ResponseFacts): void {
  factsByHeaders.set(headers, facts);
}

export function responseFactsOf(headers: object): ResponseFacts | undefined {
  return factsByHeaders.get(headers);
}

/** Set on dispatch options by stale-socket replay: use a socket that has never carried a request. */
export const FRESH_CONNECTION = Symbol('holdfast.freshConnection');

export type HoldfastDispatchOptions = Dispatcher.DispatchOptions & {
  [FRESH_CONNECTION]?: boolean;
};

/**
 * Whether sending the request twice is harmless: an idempotent method, or an
 * `Idempotency-Key` header (draft-ietf-httpapi-idempotency-key-header), or the
 * caller's explicit `holdfast.idempotent`.
 */
export function isRetrySafe(opts: Dispatcher.DispatchOptions): boolean {
  const declared = opts.holdfast?.idempotent;
  if (declared !== undefined) return declared;
  const { method } = opts;
  if (method === 'GET' || method === 'HEAD') return true; // the common case, without reading headers
  return isSafeToRepeat(method, { idempotencyKey: headerValue(opts.headers, 'idempotency-key') });
}

/** A body that can be sent again: nothing, or bytes held in memory. Streams are consumed by the first attempt. */
export function hasReplayableBody(opts: Dispatcher.DispatchOptions): boolean {
  const { body } = opts;
  return body == null || typeof body === 'string' || body instanceof Uint8Array;
}

export type { FailureKind } from '../policy/failure-kinds.js';

export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** An HTTP/2 REFUSED_STREAM (undici puts a stream's reset code on the error): sent, and refused before any processing. */
export function isRefusedStream(err: unknown): boolean {
  return (err as { http2ErrorCode?: unknown } | null)?.http2ErrorCode === 7;
}

/** The kind of a failure from undici or holdfast, with the facts TrackedClient recorded on it (policy/failure-kinds.ts decides). */
export function classifyFailure(err: unknown): FailureKind {
  const code = isRefusedStream(err) ? REFUSED_UNPROCESSED_CODE : errorCode(err) ?? '';
  const facts = factsOf(err);
  if (code === 'UND_ERR_ABORTED' || code === 'HF_ERR_ABORTED' || (err as Error | null)?.name === 'AbortError') return 'aborted';
  if (code === 'UND_ERR_DESTROYED' || (code === 'UND_ERR_CLOSED' && facts === undefined)) return 'closed';
  if (code === 'UND_ERR_INVALID_ARG' || code === 'UND_ERR_NOT_SUPPORTED') return 'invalid';
  return failureKind(code, facts);
}
