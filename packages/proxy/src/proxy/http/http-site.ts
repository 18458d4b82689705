import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import type { Duplex } from 'node:stream';
import { BodyTooLargeError, ProxyBadRequestError, ProxyNoRouteError } from 'holdfast/internal/errors.js';
import type { CidrSet } from '../../net/address.js';
import { refusalStatus, RequestTargets, type RequestTarget } from './request-target.js';
import type { HttpRouteConfig, HttpSettings } from '../config/http-config.js';
import { sendError } from './http-errors.js';
import { Exchange } from './http-forward.js';
import type { HttpMetrics } from './http-metrics.js';
import { HttpRouter } from './http-router.js';
import { Pipeline } from './pipeline.js';
import { readBody } from './request-body.js';
import type { Upstream } from '../upstream/upstream.js';
import type { Clock } from 'holdfast/internal/clock.js';
import { answerOf, pathFor, upstreamFields, type SiteFields, type SiteRoute } from './site-route.js';
import { compileRewrite } from './rewrite.js';
import { RouteRateLimit } from './rate-limit.js';
import { answerUpgrade, refuseClientError, refuseConnect, refuseRequest, refuseUpgrade, upgradeWebSocket } from './websocket-forward.js';
import type { AcmeRef } from '../acme/acme-manager.js';
import { answerHttpChallenge } from '../acme/http-challenge.js';
import { H2Front, isPreface, type H2Hooks } from './h2-front.js';
import type { AccessLog } from '../access-log.js';
import { recordOf, RequestRecord, requestIdFor, startRecord } from './request-record.js';

export interface SiteDeps {
  readonly settings: HttpSettings;
  readonly trusted: CidrSet;
  readonly metrics: HttpMetrics & H2Hooks;
  /** The generation's `upstreams:`, by name (the config schema checked that each route's exists). */
  readonly upstreams: ReadonlyMap<string, Upstream>;
  /** The upgraded connections' splice timers. */
  readonly clock: Clock;
  /** HTTP-01 answers, on `http` sites, before any route. */
  readonly acme?: AcmeRef;
  /** The proxy's access log, when configured (telemetry.ts). */
  readonly accessLog?: { readonly current: AccessLog | undefined };
}

/** A client connection as the site knows it: its address, whether it is a trusted proxy, its pipeline. */
interface Peer {
  readonly ip: string;
  readonly trusted: boolean;
  readonly pipeline: Pipeline | undefined;
}

const NO_PEER: Peer = { ip: '', trusted: false, pipeline: undefined };

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
  /** Per connection: the client's address, whether it is a trusted proxy, and its pipeline (one exchange at a time). */
  readonly #peers = new WeakMap<object, Peer>();
  #connections = 0;
  /** `1.1 holdfast`: the Via entry of HTTP/1.1 messages. */
  readonly #viaEntry: string;
  /** What every proxied request's upstream fields take from the site. */
  readonly #fields: SiteFields;
  /** Read by every exchange of this site: set by retire() and drain(). */
  readonly #lifecycle = { retiring: false };
  #onRetired: (() => void) | undefined;
  readonly #targets: RequestTargets;
  /** HTTP/2 toward clients (h2 by ALPN; h2c with prior knowledge when `http2.cleartext`). */
  readonly #h2: H2Front<Peer> | undefined;
  /** The routes' rate limits (their Redis connections close with the site). */
  readonly #limits: RouteRateLimit[] = [];

  constructor(routes: readonly HttpRouteConfig[], proto: 'http' | 'https', deps: SiteDeps) {
    this.proto = proto;
    this.#deps = deps;
    this.#viaEntry = `1.1 ${deps.settings.via}`;
    const { settings } = deps;
    this.#fields = { proto, viaEntry: this.#viaEntry, via: settings.via, requestId: settings.requestId };
    this.#router = new HttpRouter(routes, (route) => this.#compile(route));
    this.#targets = new RequestTargets((host) => this.#router.names(host), settings);
    this.server = createServer({
      keepAliveTimeout: settings.keepAliveMs,
      headersTimeout: settings.headersTimeoutMs,
      requestTimeout: settings.requestTimeoutMs,
      maxHeaderSize: settings.maxHeaderBytes,
      requireHostHeader: true,
      noDelay: true,
      connectionsCheckingInterval: Math.min(1_000, Math.max(100, Math.floor(settings.headersTimeoutMs / 4))),
    });
    // Node keeps this many fields and drops the rest silently: one more, and RequestTargets answers 431.
    this.server.maxHeadersCount = settings.maxHeaderFields + 1;
    this.server.on('request', this.#onRequest);
    this.server.on('upgrade', this.#onUpgrade);
    this.server.on('connect', this.#onConnect);
    this.server.on('clientError', this.#onClientError);
    // Node starts the check behind headersTimeout and requestTimeout on 'listening'
    // (setupConnectionsTracking in lib/_http_server.js). This server is fed connections and
    // never listens, so it is told once: without it, slowloris clients would never be cut off.
    this.server.emit('listening');
    const { enabled, cleartext } = settings.http2;
    if (proto === 'https' ? enabled : cleartext) {
      this.#h2 = new H2Front<Peer>(settings, deps.metrics, deps.clock, (req, res) => this.#onRequest(req as unknown as IncomingMessage, res as unknown as ServerResponse));
    }
  }

  /** ALPN on this site's TLS: h2 first when HTTP/2 is on. */
  get alpn(): string[] {
    return this.#h2 === undefined ? ['http/1.1'] : ['h2', 'http/1.1'];
  }

  /** Whether the first bytes of a cleartext connection decide its protocol (h2c with prior knowledge). */
  get sniffsPreface(): boolean {
    return this.proto === 'http' && this.#h2 !== undefined;
  }

  #compile(route: HttpRouteConfig): SiteRoute {
    const { action } = route;
    const raw = route.paths === 'raw';
    const rewrite = compileRewrite(route.rewrite);
    const limit = route.rateLimit === undefined ? undefined : new RouteRateLimit(route.name, route.rateLimit, this.#deps.clock, this.#deps.metrics.rateLimited);
    if (limit !== undefined) this.#limits.push(limit);
    switch (action.type) {
      case 'proxy': {
        const { settings, metrics, upstreams, clock } = this.#deps;
        const upstream = upstreams.get(action.upstream)!;
        return {
          kind: 'proxy', name: route.name, raw, rewrite, limit, preserveHost: action.preserveHost, upgrades: new Set(route.upgrades),
          exchange: { route: route.name, upstream, maxResponseBodyBytes: settings.maxResponseBodyBytes, viaEntry: this.#viaEntry, observer: metrics, lifecycle: this.#lifecycle, clock, rewrite },
        };
      }
      case 'redirect':
        return { kind: 'redirect', name: route.name, raw, rewrite, limit, location: action.location, status: action.status };
      case 'respond':
        return { kind: 'respond', name: route.name, raw, rewrite, limit, status: action.status, body: Buffer.from(action.body), contentType: action.contentType };
    }
  }

  /**
   * Serves HTTP on a connection the layer-4 proxy accepted (and decrypted): HTTP/2 when TLS
   * negotiated h2, or when `first` (its first bytes, cleartext) is the h2c preface.
   */
  accept(socket: Duplex, clientIp: string, first?: Buffer): void {
    this.#connections++;
    socket.once('close', this.#onConnectionClosed);
    const trusted = this.#deps.trusted.has(clientIp);
    const h2 = this.#h2 !== undefined && ((socket as { alpnProtocol?: unknown }).alpnProtocol === 'h2' || (first !== undefined && isPreface(first)));
    if (h2) return this.#h2!.accept(socket, { ip: clientIp, trusted, pipeline: undefined });
    this.#deps.metrics.protocol('http/1.1');
    this.#peers.set(socket, { ip: clientIp, trusted, pipeline: new Pipeline(socket, this.#deps.settings.pipelineDepth) });
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
    this.#h2?.drain();
    const idle = this.#connections === 0 ? Promise.resolve() : new Promise<void>((resolve) => { this.#onRetired = resolve; });
    return idle.then(() => this.close());
  }

  /** Closes idle keep-alive connections and marks busy ones to close after their response (shutdown's first step). */
  drain(): void {
    this.#lifecycle.retiring = true;
    this.server.closeIdleConnections();
    this.#h2?.drain(); // GOAWAY: streams in flight finish
  }

  /** Stops the server's connection checks (its interval timer). */
  close(): Promise<void> {
    // close() on a server that never listened only clears its timer and reports "not running".
    this.server.close(ignoreNotRunning);
    this.#h2?.close();
    return Promise.all(this.#limits.map((limit) => limit.close())).then(() => {});
  }

  readonly #onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.#lifecycle.retiring) res.shouldKeepAlive = false;
    if (this.#deps.accessLog?.current !== undefined) this.#record(req, res);
    const acme = this.proto === 'http' ? this.#deps.acme?.current : undefined;
    if (acme === undefined || !answerHttpChallenge(acme, req, res, this.#route)) this.#route(req, res);
  };

  /** The request's access-log record, and its line once the response is over. */
  #record(req: IncomingMessage, res: ServerResponse): void {
    const peer = this.#peerOf(req);
    startRecord(req, res, new RequestRecord(peer.ip, requestIdFor(req, peer.trusted, this.#deps.settings.requestId), this.#deps.accessLog!));
  }

  readonly #route = (req: IncomingMessage, res: ServerResponse): void => {
    const target = this.#targets.of(req);
    if (typeof target === 'string') return refuseRequest(res, target, this.#deps.metrics);
    const route = this.#router.match(target.host, target.path, target.rawPath);
    const record = recordOf(req);
    if (record !== undefined && route !== undefined) record.route = route.name;
    if (route === undefined) {
      this.#deps.metrics.finished('none', 404, 'none');
      return sendError(res, 404, new ProxyNoRouteError(target.host, target.path).code);
    }
    if (route.limit === undefined) this.#serve(req, res, route, target);
    else route.limit.admit(req, this.#peerOf(req).ip, res, () => this.#serve(req, res, route, target));
  };

  #serve(req: IncomingMessage, res: ServerResponse, route: SiteRoute, target: RequestTarget): void {
    if (route.kind !== 'proxy') {
      const { status, headers, body } = answerOf(route, target);
      res.writeHead(status, headers);
      res.end(body);
      recordOf(req)?.wrote(body.length);
      return this.#deps.metrics.finished(route.name, status, 'none');
    }
    const peer = this.#peerOf(req);
    if (peer.pipeline === undefined || peer.pipeline.tryBegin(res)) this.#proxy(req, res, route, target, peer);
    else peer.pipeline.enqueue(res, () => this.#proxy(req, res, route, target, peer));
  }

  #proxy(req: IncomingMessage, res: ServerResponse, route: Extract<SiteRoute, { kind: 'proxy' }>, target: RequestTarget, peer: Peer): void {
    const { settings, metrics, clock } = this.#deps;
    const declared = req.headers['content-length'];
    const length = declared === undefined ? 0 : Number(declared);
    const max = settings.maxRequestBodyBytes;
    if (max > 0 && length > max) {
      metrics.finished(route.name, 413, 'none');
      return sendError(res, 413, BodyTooLargeError.code, true);
    }
    const headers = upstreamFields(req, this.#fields, peer, target, route);
    const path = pathFor(route, target);
    // HTTP/2 needs no content-length: a request has a body unless its HEADERS ended the stream.
    const bodyless = length === 0 && req.headers['transfer-encoding'] === undefined && (req.httpVersionMajor !== 2 || (req as unknown as Http2ServerRequest).stream.endAfterHeaders);
    if (bodyless) return new Exchange(req, res, path, headers, null, route.exchange).start();
    // The body is read first (request-body.ts): a slow client holds no upstream connection.
    readBody(req, { bufferBytes: settings.bufferRequestBodyBytes, minRate: settings.minRequestBodyRate, maxBytes: max, clock, record: recordOf(req) }, (outcome) => {
      if (outcome.kind === 'buffered' || outcome.kind === 'streamed') return new Exchange(req, res, path, headers, outcome.body, route.exchange).start();
      if (outcome.kind === 'gone') return metrics.finished(route.name, 499, 'none');
      const status = outcome.kind === 'too-slow' ? 408 : 413;
      if (status === 408) metrics.refused('slow-body');
      metrics.finished(route.name, status, 'none');
      sendError(res, status, status === 413 ? BodyTooLargeError.code : ProxyBadRequestError.code, true);
    });
  }

  /** The connection's peer, found once per request (a socket not handed over by accept() has none). */
  #peerOf(req: IncomingMessage): Peer {
    return this.#peers.get(req.socket) ?? (req.httpVersionMajor === 2 ? this.#h2?.peerOf(req as unknown as Http2ServerRequest) : undefined) ?? NO_PEER;
  }

  /**
   * A request with Upgrade (and Connection: upgrade). A respond or redirect route gives its own
   * answer; a proxy route forwards only the protocols it allows (`upgrades`, websocket by
   * default): an `h2c` tunnel would carry requests no route sees.
   */
  readonly #onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const target = this.#targets.of(req);
    if (typeof target === 'string') {
      this.#deps.metrics.refused(target);
      return refuseUpgrade(socket, refusalStatus(target), ProxyBadRequestError.code);
    }
    const route = this.#router.match(target.host, target.path, target.rawPath);
    if (route === undefined) return refuseUpgrade(socket, 404, ProxyNoRouteError.code);
    if (route.kind !== 'proxy') {
      const { status, headers, body } = answerOf(route, target);
      this.#deps.metrics.finished(route.name, status, 'none');
      return answerUpgrade(socket, status, headers, body);
    }
    const protocol = (req.headers.upgrade ?? '').split(',')[0]!.trim().split('/')[0]!.toLowerCase();
    if (!route.upgrades.has(protocol)) {
      this.#deps.metrics.refused('upgrade');
      return refuseUpgrade(socket, 400, ProxyBadRequestError.code);
    }
    const headers = upstreamFields(req, this.#fields, this.#peerOf(req), target, route);
    upgradeWebSocket(req, socket, head, pathFor(route, target), headers, route.exchange, this.#deps.settings.websocketIdleMs);
  };

  /** CONNECT is a forward proxy's method: refused (405). */
  readonly #onConnect = (_req: IncomingMessage, socket: Duplex): void => refuseConnect(socket, this.#deps.metrics);

  /** A request Node's parser refused, or a client too slow with its headers (websocket-forward.ts). */
  readonly #onClientError = (err: NodeJS.ErrnoException, socket: Duplex): void => refuseClientError(err, socket, this.#deps.metrics);
}

function ignoreNotRunning(): void {}
