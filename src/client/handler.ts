import type { Duplex } from 'node:stream';
import { util, type Dispatcher } from 'undici';

/**
 * The handler shape undici 7's Client runs on internally (raw header buffers,
 * `false` to pause). holdfast's interceptors speak it end to end: with undici's
 * `compose()`, every request would convert parsed headers back to buffers at
 * the top and parse them again at the bottom, which alone costs 10-15% of
 * loopback throughput (bench/overhead.ts). Handlers in undici's newer shape
 * (`onRequestStart`…) are adapted once, at the entrance.
 */
export interface Handler {
  onConnect?(abort: (err?: Error) => void, context?: object): void;
  onResponseStarted?(): void;
  onHeaders?(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean;
  onData?(chunk: Buffer): boolean;
  onComplete?(trailers: string[] | Buffer[] | null): void;
  onError?(err: Error): void;
  onUpgrade?(statusCode: number, headers: Buffer[] | string[] | null, socket: Duplex): void;
  onBodySent?(chunkSize: number, totalBytesSent: number): void;
  /**
   * Set by the deadline interceptor on the handler it passes down: the clock time by
   * which every attempt must end, so that inner interceptors never start a wait past it.
   * (On the handler rather than on the options, to spare a copy of the options per request.)
   */
  readonly deadlineAt?: number;
}

export type Dispatch = (opts: Dispatcher.DispatchOptions, handler: Handler) => boolean;

// Each interceptor's handler spells out its own forwarding methods rather than inheriting
// them from a shared base class. That is deliberate: with one base class, the inherited
// forwarding call sites see every handler class and V8's inline caches go megamorphic,
// which cost about 2.5 µs per request with every policy on (bench/overhead.ts, measured
// against the same code with per-class copies).
export type Interceptor = (next: Dispatch) => Dispatch;

/** One header's value from raw `[name, value, …]` buffers, or undefined. `name`: lower case. */
export function rawHeader(headers: Buffer[] | string[] | null, name: string): string | undefined {
  const raw = headerBytes(headers);
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (bytesEqualLower(raw[i]!, name)) return raw[i + 1]!.toString('latin1');
  }
  return undefined;
}

/**
 * Compares raw header bytes (a name or a value) to a lower-case ASCII word,
 * case-insensitively, without decoding them. Its twin for decoded text is
 * textEqualsLower: one function over both types would see strings and buffers at the
 * same property loads, and V8 then leaves them generic in every caller it is inlined
 * into (seen in the proxy's profile: docs/proxy.md#cpu-per-request).
 */
export function bytesEqualLower(raw: Buffer, lower: string): boolean {
  if (raw.length !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const code = raw[i]!;
    const want = lower.charCodeAt(i);
    if (code !== want && (code | 0x20) !== want) return false;
  }
  return true;
}

/** bytesEqualLower for a decoded header name or value. */
export function textEqualsLower(raw: string, lower: string): boolean {
  if (raw.length !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const code = raw.charCodeAt(i);
    const want = lower.charCodeAt(i);
    if (code !== want && (code | 0x20) !== want) return false;
  }
  return true;
}

/**
 * Raw headers as buffers. Undici passes buffers; a list of strings (from a handler
 * written by hand) is encoded once, so that the code reading them sees one type.
 */
export function headerBytes(headers: readonly (Buffer | string)[] | null): Buffer[] {
  if (headers === null) return [];
  if (headers.length === 0 || typeof headers[0] !== 'string') return headers as Buffer[];
  return headers.map((field) => (typeof field === 'string' ? Buffer.from(field, 'latin1') : field));
}

type Headers = Record<string, string | string[] | undefined>;

/** Presents a new-style handler (`onRequestStart`, `onResponseStart`…) as a `Handler`; it is its controller too. */
class NewStyleAdapter implements Handler, Dispatcher.DispatchController {
  readonly #inner: Dispatcher.DispatchHandler;
  #abort: ((err?: Error) => void) | undefined;
  #resume: (() => void) | undefined;
  #paused = false;
  #reason: Error | null = null;

  constructor(inner: Dispatcher.DispatchHandler) {
    this.#inner = inner;
  }

  get aborted(): boolean {
    return this.#reason !== null;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get reason(): Error | null {
    return this.#reason;
  }

  abort(reason: Error): void {
    this.#reason = reason;
    this.#abort?.(reason);
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    this.#paused = false;
    this.#resume?.();
  }

  onConnect(abort: (err?: Error) => void, context?: object): void {
    this.#abort = abort;
    this.#inner.onRequestStart?.(this, context);
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    this.#resume = resume;
    this.#inner.onResponseStart?.(this, statusCode, util.parseHeaders(headers) as Headers, statusText);
    return !this.#paused;
  }

  onData(chunk: Buffer): boolean {
    this.#inner.onResponseData?.(this, chunk);
    return !this.#paused;
  }

  onComplete(trailers: string[] | Buffer[] | null): void {
    this.#inner.onResponseEnd?.(this, util.parseHeaders(trailers ?? []) as Headers);
  }

  onError(err: Error): void {
    this.#inner.onResponseError?.(this, err);
  }

  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: Duplex): void {
    this.#inner.onRequestUpgrade?.(this, statusCode, util.parseHeaders(headers ?? []) as Headers, socket);
  }
}

/** A handler with any new-style method is new-style (undici checks `onRequestStart` alone). */
export function toHandler(handler: Dispatcher.DispatchHandler): Handler {
  const newStyle = typeof handler.onRequestStart === 'function' || typeof handler.onResponseStart === 'function'
    || typeof handler.onResponseEnd === 'function' || typeof handler.onResponseError === 'function';
  return newStyle ? new NewStyleAdapter(handler) : (handler as Handler);
}
