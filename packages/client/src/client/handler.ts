import { Dispatcher1Wrapper, type Dispatcher } from 'undici';
import { headerBytes } from '../http/headers.js';

/** undici 8's request controller: pause, resume and abort, and the raw headers of the response. */
export type Controller = Dispatcher.DispatchController;

export type { ParsedHeaders } from '../http/headers.js';

/**
 * undici 8's handler contract (`onRequestStart`, `onResponseStart`, …), which every
 * interceptor speaks end to end. undici 8's core parses the response headers once and
 * hands each handler both forms (parsed in the call, raw on `controller.rawHeaders`), so
 * a layer converts nothing. A layer that does not need a controller of its own passes
 * undici's down the chain untouched.
 */
export interface Handler extends Dispatcher.DispatchHandler {
  /** undici calls it with no controller when a request fails before it started (a connect error, a refusal). */
  onResponseError?(controller: Controller | null, error: Error): void;
}

export type Dispatch = (opts: Dispatcher.DispatchOptions, handler: Handler) => boolean;

// Each interceptor's handler spells out its own forwarding methods rather than inheriting
// them from a shared base class. That is deliberate: with one base class, the inherited
// forwarding call sites see every handler class and V8's inline caches go megamorphic,
// which cost about 2.5 µs per request with every policy on (bench/runners/overhead.ts, measured
// against the same code with per-class copies).
export type Interceptor = (next: Dispatch) => Dispatch;

/**
 * A handler of undici's older shape (`onConnect`, `onHeaders`, …), as Node 22's bundled
 * fetch (undici 6) still sends, is wrapped once at the entrance by undici's own
 * `Dispatcher1Wrapper`. A handler with any method of the current shape passes as it is:
 * undici looks at `onRequestStart` alone, but a handler that only listens for the end or
 * the error is no less of the current shape, and every layer here calls each method
 * only when it is there.
 */
export function toHandler(handler: Dispatcher.DispatchHandler): Handler {
  if (typeof handler.onRequestStart === 'function' || typeof handler.onResponseStart === 'function'
    || typeof handler.onResponseEnd === 'function' || typeof handler.onResponseError === 'function') return handler;
  return (Dispatcher1Wrapper as unknown as { wrapHandler(h: object): Handler }).wrapHandler(handler);
}

/** Raw `[name, value, …]` header buffers from a controller, or an empty list when it holds none. */
export function rawHeadersOf(controller: Controller | null | undefined): Buffer[] {
  const raw = controller?.rawHeaders;
  return Array.isArray(raw) ? headerBytes(raw) : [];
}
