import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { BodyTooLargeError, ProxyBadRequestError, ProxyNoRouteError } from '../../errors.js';
import type { CidrSet } from '../../net/address.js';
import { forwardedValue, upstreamRequestHeaders } from './forward-headers.js';
import type { HttpRouteConfig, HttpSettings } from '../config/http-config.js';
import { sendError } from './http-errors.js';
import { Exchange, type ExchangeSettings } from './http-forward.js';
import type { HttpMetrics } from './http-metrics.js';
import { HttpRouter } from './http-router.js';
import type { Upstream } from '../upstream/upstream.js';
import type { Clock } from '../../clock.js';
import { refuseUpgrade, upgradeWebSocket } from './websocket-forward.js';

type SiteRoute =
  | { readonly kind: 'proxy'; readonly name: string; readonly preserveHost: boolean; readonly exchange: ExchangeSettings }
  | { readonly kind: 'redirect'; readonly name: string; readonly location: string; readonly status: number }
  | { readonly kind: 'respond'; readonly name: string; readonly status: number; readonly body: Buffer; readonly contentType: string };

export interface SiteDeps {
  readonly settings: HttpSettings;
  readonly trusted: CidrSet;
  readonly metrics: HttpMetrics;
  /** The generation's `upstreams:`, by name (the config schema checked that each route's exists). */
  readonly upstreams: ReadonlyMap<string, Upstream>;
  /** The upgraded connections' splice timers. */
  readonly clock: Clock;
}

/** Where a request is going: the host routed on (lower case, no port), the Host to send, the path. */
interface RequestTarget {
  host: string;
  authority: string;
  /** `authority` as a Forwarded header value. */
  forwardedHost: string;
  path: string;
}

/** Why a request target is refused (400), as the `reason` of holdfast_proxy_http_refused_total. */
type Refusal = 'bad-request' | 'forward-proxy';

/** What a Host header yields, parsed once per distinct value (a site sees few). */
interface ParsedAuthority {
  host: string;
  forwardedHost: string;
}

const AUTHORITY_CACHE_SIZE = 1024;

const HOST = /^(?:\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::\d{1,5})?$/i;

/**
 * The HTTP side of one `http` or `terminate` route: a Node HTTP server that is fed
 * connections (it never listens), and its HTTP routes, whose `proxy` actions send requests
 * to the generation's shared upstreams.
 *
 * Node's server does the HTTP/1.1 parsing, strictly (llhttp without lenient flags): a request
 * with both Content-Length and Transfer-Encoding, a bad chunk size, obs-fold or an invalid
 * header character is refused with 400 before it reaches a route (request smuggling), and
 * `headersTimeout` cuts off clients that send headers slowly (slowloris).
 */
export class HttpSite {
  readonly server: Server;
  readonly proto: 'http' | 'https';
  readonly #router: HttpRouter<SiteRoute>;
  readonly #deps: SiteDeps;
  /** Per connection: the client's address and whether it is a trusted proxy, found once. */
  readonly #peers = new WeakMap<object, { ip: string; trusted: boolean }>();
  #connections = 0;
  /** `1.1 holdfast`: the Via entry of HTTP/1.1 messages. */
  readonly #viaEntry: string;
  /** Read by every exchange of this site: set by retire() and drain(). */
  readonly #lifecycle = { retiring: false };
  #onRetired: (() => void) | undefined;
  /** Host header values seen, parsed; emptied when it reaches AUTHORITY_CACHE_SIZE (clients choose these values). */
  readonly #authorities = new Map<string, ParsedAuthority>();

  constructor(routes: readonly HttpRouteConfig[], proto: 'http' | 'https', deps: SiteDeps) {
    this.proto = proto;
    this.#deps = deps;
    this.#viaEntry = `1.1 ${deps.settings.via}`;
    const { settings } = deps;
    this.#router = new HttpRouter(routes, (route) => this.#compile(route));
    this.server = createServer({
      keepAliveTimeout: settings.keepAliveMs,
      headersTimeout: settings.headersTimeoutMs,
      requestTimeout: settings.requestTimeoutMs,
      maxHeaderSize: settings.maxHeaderBytes,
      requireHostHeader: true,
      noDelay: true,
      connectionsCheckingInterval: Math.min(1_000, Math.max(100, Math.floor(settings.headersTimeoutMs / 4))),
    });
    this.server.on('request', this.#onRequest);
    this.server.on('upgrade', this.#onUpgrade);
    this.server.on('connect', this.#onConnect);
    this.server.on('clientError', this.#onClientError);
    // Node starts the check behind headersTimeout and requestTimeout on 'listening'
    // (setupConnectionsTracking in lib/_http_server.js). This server is fed connections and
    // never listens, so it is told once: without it, slowloris clients would never be cut off.
    this.server.emit('listening');
  }

  #compile(route: HttpRouteConfig): SiteRoute {
    const { action } = route;
    switch (action.type) {
      case 'proxy': {
        const { settings, metrics, upstreams, clock } = this.#deps;
        const upstream = upstreams.get(action.upstream)!;
        return {
          kind: 'proxy', name: route.name, preserveHost: action.preserveHost,
          exchange: { route: route.name, upstream, retries: upstream.config.retries, maxResponseBodyBytes: settings.maxResponseBodyBytes, viaEntry: this.#viaEntry, observer: metrics, lifecycle: this.#lifecycle, clock },
        };
      }
      case 'redirect':
        return { kind: 'redirect', name: route.name, location: action.location, status: action.status };
      case 'respond':
        return { kind: 'respond', name: route.name, status: action.status, body: Buffer.from(action.body), contentType: action.contentType };
    }
  }

  /** Serves HTTP on a connection the layer-4 proxy accepted (and decrypted). */
  accept(socket: Duplex, clientIp: string): void {
    this.#connections++;
    this.#peers.set(socket, { ip: clientIp, trusted: this.#deps.trusted.has(clientIp) });
    socket.once('close', this.#onConnectionClosed);
    this.server.emit('connection', socket);
  }

  readonly #onConnectionClosed = (): void => {
    if (--this.#connections === 0 && this.#lifecycle.retiring) this.#onRetired?.();
  };

  /**
   * A newer config replaced this one: idle keep-alive connections close now, busy ones after
   * their current response (`Connection: close`). Resolves once the last is gone (and the
   * server's timer is stopped); the generation then closes its upstreams.
   */
  retire(): Promise<void> {
    this.#lifecycle.retiring = true;
    this.server.closeIdleConnections();
    const idle = this.#connections === 0 ? Promise.resolve() : new Promise<void>((resolve) => { this.#onRetired = resolve; });
    return idle.then(() => this.close());
  }

  /** Closes idle keep-alive connections and marks busy ones to close after their response (shutdown's first step). */
  drain(): void {
    this.#lifecycle.retiring = true;
    this.server.closeIdleConnections();
  }

  /** Stops the server's connection checks (its interval timer). */
  close(): Promise<void> {
    // close() on a server that never listened only clears its timer and reports "not running".
    this.server.close(ignoreNotRunning);
    return Promise.resolve();
  }

  readonly #onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.#lifecycle.retiring) res.shouldKeepAlive = false;
    const target = this.#targetOf(req);
    if (typeof target === 'string') return this.#refuse(res, target);
    const route = this.#router.match(target.host, target.path);
    if (route === undefined) {
      this.#deps.metrics.finished('none', 404, 'none');
      return sendError(res, 404, new ProxyNoRouteError(target.host, target.path).code);
    }
    if (route.kind === 'respond') {
      res.writeHead(route.status, { 'content-type': route.contentType, 'content-length': route.body.length });
      res.end(route.body);
      return this.#deps.metrics.finished(route.name, route.status, 'none');
    }
    if (route.kind === 'redirect') {
      // Replacer functions: a `$&` in the path must not be read as a replacement pattern.
      const location = route.location.replace('{host}', () => target.host).replace('{path}', () => target.path);
      res.writeHead(route.status, { location, 'content-length': 0 });
      res.end();
      return this.#deps.metrics.finished(route.name, route.status, 'none');
    }
    this.#proxy(req, res, route, target);
  };

  #proxy(req: IncomingMessage, res: ServerResponse, route: Extract<SiteRoute, { kind: 'proxy' }>, target: RequestTarget): void {
    const { settings } = this.#deps;
    const declared = req.headers['content-length'];
    const length = declared === undefined ? 0 : Number(declared);
    const max = settings.maxRequestBodyBytes;
    if (max > 0 && length > max) {
      this.#deps.metrics.finished(route.name, 413, 'none');
      return sendError(res, 413, BodyTooLargeError.code, true);
    }
    const hasBody = length > 0 || req.headers['transfer-encoding'] !== undefined;
    const headers = this.#upstreamHeaders(req, target, route.preserveHost ? target.authority : undefined);
    const exchange = new Exchange(req, res, target.path, headers, hasBody ? req : null, route.exchange, hasBody && declared === undefined ? max : 0);
    exchange.start();
  }

  #upstreamHeaders(req: IncomingMessage, target: RequestTarget, upstreamHost: string | undefined): string[] {
    const peer = this.#peers.get(req.socket) ?? { ip: '', trusted: false };
    return upstreamRequestHeaders(req.rawHeaders, {
      clientIp: peer.ip,
      trusted: peer.trusted,
      proto: this.proto,
      host: target.authority,
      forwardedHost: target.forwardedHost,
      upstreamHost,
      viaEntry: req.httpVersion === '1.1' ? this.#viaEntry : `${req.httpVersion} ${this.#deps.settings.via}`,
    });
  }

  /**
   * The request's host and path. An absolute-form target (`GET http://host/ HTTP/1.1`) is
   * what a forward proxy receives: it is served only for hosts a route names, so this proxy
   * can never be used to reach anything else.
   */
  #targetOf(req: IncomingMessage): RequestTarget | Refusal {
    const url = req.url ?? '';
    if (url.startsWith('/')) {
      const authority = req.headers.host ?? '';
      const parsed = this.#authority(authority);
      if (parsed === undefined) return 'bad-request'; // not a host[:port]
      return { host: parsed.host, authority, forwardedHost: parsed.forwardedHost, path: url };
    }
    if (!/^https?:\/\//i.test(url)) return 'bad-request'; // neither a path nor an absolute URL
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return 'bad-request';
    }
    const host = parsed.hostname.toLowerCase();
    if (!this.#router.names(host)) return 'forward-proxy'; // a host no route names
    return { host, authority: parsed.host, forwardedHost: forwardedValue(parsed.host), path: `${parsed.pathname}${parsed.search}` };
  }

  /** A Host value checked and split once; undefined when it is not a host[:port]. */
  #authority(authority: string): ParsedAuthority | undefined {
    let parsed = this.#authorities.get(authority);
    if (parsed !== undefined) return parsed;
    if (authority !== '' && !HOST.test(authority)) return undefined;
    if (this.#authorities.size >= AUTHORITY_CACHE_SIZE) this.#authorities.clear();
    parsed = { host: hostOf(authority), forwardedHost: forwardedValue(authority) };
    this.#authorities.set(authority, parsed);
    return parsed;
  }

  #refuse(res: ServerResponse, reason: Refusal): void {
    this.#deps.metrics.refused(reason);
    this.#deps.metrics.finished('none', 400, 'none');
    sendError(res, 400, ProxyBadRequestError.code, true);
  }

  readonly #onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const target = this.#targetOf(req);
    const route = typeof target === 'string' ? undefined : this.#router.match(target.host, target.path);
    if (typeof target === 'string' || route?.kind !== 'proxy') {
      this.#deps.metrics.refused('bad-request');
      return refuseUpgrade(socket, typeof target === 'string' ? 400 : 404, typeof target === 'string' ? ProxyBadRequestError.code : ProxyNoRouteError.code);
    }
    const headers = this.#upstreamHeaders(req, target, route.preserveHost ? target.authority : undefined);
    upgradeWebSocket(req, socket, head, target.path, headers, route.exchange, this.#deps.settings.websocketIdleMs);
  };

  /** CONNECT is a forward proxy's method: refused. */
  readonly #onConnect = (_req: IncomingMessage, socket: Duplex): void => {
    this.#deps.metrics.refused('connect');
    refuseUpgrade(socket, 405, ProxyBadRequestError.code);
  };

  /**
   * A request Node's parser refused (smuggling vectors, oversized headers) or a client too slow
   * with its headers: answered 400, 431 or 408 with the holdfast code, then closed.
   */
  readonly #onClientError = (err: NodeJS.ErrnoException, socket: Duplex): void => {
    const code = err.code ?? '';
    // Node reports here too a client that reset its connection, or ended it in the middle of a
    // request (HPE_INVALID_EOF_STATE; a reset can reach the parser as an end as well): that
    // client has left, no request was refused (the layer-4 side counts how its connection
    // closed), and there is no one to answer.
    if (code === 'ECONNRESET' || code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
      socket.destroy();
      return;
    }
    const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    this.#deps.metrics.refused(status === 408 ? 'timeout' : status === 431 ? 'too-large' : 'bad-request');
    refuseUpgrade(socket, status, ProxyBadRequestError.code);
  };
}

function ignoreNotRunning(): void {}

/** `Example.test:8080` → `example.test`; `[::1]:80` → `::1`. */
function hostOf(authority: string): string {
  if (authority.startsWith('[')) return authority.slice(1, authority.indexOf(']')).toLowerCase();
  const colon = authority.lastIndexOf(':');
  return (colon < 0 ? authority : authority.slice(0, colon)).toLowerCase();
}
