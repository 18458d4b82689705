import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerResponse, OutgoingHttpHeaders } from 'node:http2';
import type { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { isIdempotentMethod } from 'holdfast/internal/policy/retry-safety.js';
import { headerOf, type ParsedHeaders } from 'holdfast/internal/http/headers.js';
import { rawHeadersOf, type Controller, type Handler } from 'holdfast/internal/client/handler.js';
import { BodyTooLargeError, NoUpstreamError, RequestAbortedError } from 'holdfast/internal/errors.js';
import { downstreamResponseHeaders } from './forward-headers.js';
import { codeOf, sendError, statusForUpstreamFailure } from './http-errors.js';
import type { Upstream, UpstreamTarget } from '../upstream/upstream.js';
import type { Clock } from 'holdfast/internal/clock.js';
import type { Rewrite } from './rewrite.js';
import { recordOf, type RequestRecord } from './request-record.js';

export interface ExchangeObserver {
  /** The client got its response, or left before it (status 499, as nginx logs it). Once per request. */
  finished(route: string, status: number, target: string): void;
  /** Time from sending a request upstream to its response headers. */
  upstreamLatency(route: string, target: string, seconds: number): void;
  /** A request went to another target after the first failed before its response. */
  retried(route: string): void;
}

export interface ExchangeSettings {
  readonly route: string;
  /** Its `retries` say how many other targets a failed idempotent request may go to. */
  readonly upstream: Upstream;
  readonly maxResponseBodyBytes: number;
  /** The `Via` entry added to responses: `1.1 holdfast`. */
  readonly viaEntry: string;
  readonly observer: ExchangeObserver;
  /** The site's: once it is retiring (reload, shutdown), responses close their connection. */
  readonly lifecycle: { readonly retiring: boolean };
  /** The timers of upgraded (WebSocket) connections. */
  readonly clock: Clock;
  /** The route's rewrites: its response header edits apply here. */
  readonly rewrite?: Rewrite | undefined;
}

/**
 * An HTTP/2 response's HEADERS, sent on the stream itself: the compatibility layer's
 * writeHead sets each field one by one and asks every stream for trailers (a fifth of the
 * proxy's CPU per h2 request, profiled). Its write() and end() then carry the body as usual.
 */
function respondH2(res: Http2ServerResponse, status: number, fields: readonly string[]): void {
  const headers: OutgoingHttpHeaders = { ':status': status };
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!.toLowerCase();
    const previous = headers[name];
    headers[name] = previous === undefined ? fields[i + 1]! : Array.isArray(previous) ? [...previous, fields[i + 1]!] : [String(previous), fields[i + 1]!];
  }
  res.statusCode = status;
  res.stream.respond(headers);
}

/** Statuses the client saw when it left before its response ended (nginx's convention). */
const CLIENT_CLOSED = 499;

/** Failures after which nothing reached the upstream, or nothing came back: another target may serve the request. */
const RETRY_ON_ANOTHER = new Set(['HF_ERR_CONNECT', 'HF_ERR_SOCKET', 'HF_ERR_STALE_SOCKET', 'HF_ERR_CIRCUIT_OPEN', 'HF_ERR_TLS']);

/** RFC 9110 §9.2.2. */

/**
 * One proxied request: the client's request goes to a target through the route's holdfast
 * dispatcher, and the response streams back as it arrives, with backpressure both ways (a
 * full client socket pauses the upstream read; undici pauses the request body the same way).
 *
 *   pick target ─▶ dispatch ─▶ headers ─▶ body … ─▶ complete
 *        ▲             │ error before headers: idempotent, no body, retries left?
 *        └── another ──┘ otherwise 502 / 503 / 504 with the holdfast error code
 *
 * A client that goes away (its socket closes before the response ended) aborts the upstream
 * request at once, mid-upload included. The response's header lines are forwarded from the raw
 * bytes undici keeps on the controller (names as sent, no decoding on the way through).
 */
export class Exchange implements Handler {
  readonly #req: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #settings: ExchangeSettings;
  readonly #opts: Dispatcher.DispatchOptions;
  #target: UpstreamTarget | undefined;
  #tried: Set<UpstreamTarget> | undefined;
  #retriesLeft: number;
  #controller: Controller | undefined;
  #sentAt = 0;
  #bytes = 0;
  #done = false;
  /** The access log's record of the request (undefined while the log is off). */
  readonly #record: RequestRecord | undefined;

  /** `body`: read first (request-body.ts), whole or as the rest streams in; its size limit is checked there. */
  constructor(req: IncomingMessage, res: ServerResponse, path: string, headers: string[], body: Readable | Buffer | null, settings: ExchangeSettings) {
    this.#req = req;
    this.#res = res;
    this.#settings = settings;
    this.#retriesLeft = body === null && isIdempotentMethod(req.method!) ? settings.upstream.config.retries : 0;
    this.#opts = { origin: '', path, method: req.method as Dispatcher.HttpMethod, headers, body };
    this.#record = recordOf(req);
    if (this.#record !== undefined) this.#opts.holdfast = this.#record; // counts the dispatcher's replays
  }

  start(): void {
    this.#res.on('close', this.#onClientClose); // a response closes once: no once() wrapper needed
    const target = this.#settings.upstream.pick();
    if (target === undefined) return this.#fail(new NoUpstreamError(this.#settings.route));
    this.#attempt(target);
  }

  #attempt(target: UpstreamTarget): void {
    this.#target = target;
    target.inFlight++;
    this.#sentAt = performance.now();
    this.#opts.origin = target.origin;
    if (this.#record !== undefined) {
      this.#record.attempts++;
      this.#record.upstream = target.address;
    }
    this.#settings.upstream.dispatcher.dispatch(this.#opts, this);
  }

  onRequestStart(controller: Controller): void {
    this.#controller = controller;
    if (this.#done) controller.abort(new RequestAbortedError());
  }

  onResponseStart(controller: Controller, statusCode: number, headers: ParsedHeaders): void {
    if (statusCode < 200 || this.#done) return; // 1xx: the proxy's own server answers Expect itself
    const { observer, route, maxResponseBodyBytes, viaEntry } = this.#settings;
    const upstream = this.#target!.address;
    const elapsed = performance.now() - this.#sentAt;
    observer.upstreamLatency(route, upstream, elapsed / 1000);
    if (this.#record !== undefined) this.#record.upstreamMs = elapsed;
    if (maxResponseBodyBytes > 0 && Number(headerOf(headers, 'content-length') ?? 0) > maxResponseBodyBytes) {
      controller.abort(new BodyTooLargeError('response', maxResponseBodyBytes));
      return;
    }
    if (this.#settings.lifecycle.retiring) this.#res.shouldKeepAlive = false; // began before a reload or shutdown
    const relayed = downstreamResponseHeaders(rawHeadersOf(controller), viaEntry);
    const fields = this.#settings.rewrite === undefined ? relayed : this.#settings.rewrite.responseHeaders(relayed);
    if (this.#req.httpVersionMajor === 2) respondH2(this.#res as unknown as Http2ServerResponse, statusCode, fields);
    else this.#res.writeHead(statusCode, fields);
  }

  onResponseData(controller: Controller, chunk: Buffer): void {
    if (this.#done) return;
    const limit = this.#settings.maxResponseBodyBytes;
    if (limit > 0 && (this.#bytes += chunk.length) > limit) {
      controller.abort(new BodyTooLargeError('response', limit));
      return;
    }
    this.#record?.wrote(chunk.length);
    if (this.#res.write(chunk)) return;
    controller.pause();
    this.#res.once('drain', this.#resume);
  }

  /** The client's socket drained: the upstream read goes on. */
  readonly #resume = (): void => {
    this.#controller?.resume();
  };

  onResponseEnd(): void {
    this.#release();
    if (this.#done) return;
    this.#res.end();
    this.#finish(this.#res.statusCode);
  }

  onResponseError(_controller: Controller | null, err: Error): void {
    this.#release();
    if (this.#done) return;
    if (this.#res.headersSent) {
      // The response had started: the client can only learn of the failure by its end.
      this.#ended('upstream-cut', err);
      this.#res.destroy();
      return this.#finish(this.#res.statusCode);
    }
    if (this.#retriesLeft > 0 && RETRY_ON_ANOTHER.has(codeOf(err))) {
      (this.#tried ??= new Set()).add(this.#target!);
      const next = this.#settings.upstream.pick(this.#tried);
      if (next !== undefined) {
        this.#retriesLeft--;
        this.#settings.observer.retried(this.#settings.route);
        return this.#attempt(next);
      }
    }
    this.#fail(err); // no other target: the client learns what went wrong with this one
  }

  #release(): void {
    if (this.#target !== undefined) this.#target.inFlight--;
  }

  #fail(err: Error): void {
    this.#ended('upstream-failed', err);
    const status = statusForUpstreamFailure(err);
    // A request body not received to its end (refused, or cut short by the failure): the
    // connection cannot carry another request.
    // (A request without a body is complete once its headers are in, though `req.complete` is
    // set only after the 'request' event.)
    sendError(this.#res, status, codeOf(err), status === 413 || (this.#opts.body != null && !this.#req.complete));
    this.#finish(status);
  }

  #ended(end: RequestRecord['end'], err: Error): void {
    if (this.#record === undefined) return;
    this.#record.end = end;
    this.#record.error = codeOf(err);
  }

  #finish(status: number): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#record !== undefined) this.#record.status = status;
    this.#settings.observer.finished(this.#settings.route, status, this.#target?.address ?? 'none');
  }

  /** The client's connection closed: before the response ended, the upstream request is aborted. */
  readonly #onClientClose = (): void => {
    // Not res.writableFinished: Node's HTTP/2 compatibility response reads its stream's, which
    // a stream the client reset has too (its writable side is ended when it closes), and the
    // upstream request went on unaborted.
    if (this.#done) return;
    if (this.#record !== undefined) this.#record.end = 'client-closed';
    this.#controller?.abort(new RequestAbortedError());
    this.#finish(CLIENT_CLOSED);
  };
}
