import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { normalizeAddress } from '../../net/address.js';
import { ClientHelloReader } from '../../net/client-hello.js';
import type { CloseReason, ConnectionRecord, ConnectionTracker } from '../../net/connection-tracker.js';
import { dial } from '../../net/dial.js';
import type { DirectReads } from '../../net/direct-reads.js';
import { addressesOf, encodeProxyV1, encodeProxyV2, readProxyHeader, type ProxiedAddresses } from '../../net/proxy-protocol.js';
import { PrefixedStream } from '../../net/prefixed-stream.js';
import { Splice } from '../../net/splice.js';
import type { Generation } from '../generation.js';
import type { HttpSite } from '../http/http-site.js';
import type { CompiledRoute } from './router.js';
import type { Upstream, UpstreamTarget } from '../upstream/upstream.js';
import type { ClockTimer } from 'holdfast/internal/clock.js';
import { terminateTls } from '../tls/tls-terminate.js';

import { UNRECOGNIZED_NAME_ALERT, type ConnectionHooks, type ListenerContext } from './l4-types.js';

export type { ConnectionHooks, ListenerContext } from './l4-types.js';

/**
 * One client connection through the layer-4 proxy:
 *
 *   accept → [PROXY header, trusted peers only] → admit (per-IP limits) → route
 *     → [ClientHello, when a route needs SNI] → per-route limit → dial targets in order
 *     → splice both ways → closed, once, with a reason
 *
 * The client socket's `'error'` listener is attached the tick it is accepted, for its life.
 * Until the splice starts, this object owns the client's close; after, the splice does. The
 * record closes once every socket it opened has closed: "0 connections" means 0 descriptors.
 */
export class L4Connection {
  readonly #client: Socket;
  readonly #listener: ListenerContext;
  readonly #generation: Generation;
  readonly #tracker: ConnectionTracker;
  readonly #hooks: ConnectionHooks;
  readonly #record: ConnectionRecord;
  /** Bytes read before the backend was connected, replayed to it in order. */
  #pending: Buffer[] = [];
  #proxied: ProxiedAddresses | undefined;
  #reason: CloseReason | undefined;
  /** Set while a backend dial is pending: abandons it. */
  #abandonDial: ((onClosed: () => void) => void) | undefined;
  #splice: Splice | undefined;
  /** The stream that carries HTTP once handed to a site (a TLS socket over the client, say): what is destroyed on abort. */
  #outer: Duplex | undefined;
  /** While a PROXY header or ClientHello is awaited: no byte for firstDataMs ends the connection. */
  #firstData: ClockTimer | undefined;

  /**
   * Takes an accepted socket: call it first thing in the server's `'connection'` listener.
   * Returns undefined when the total limit refuses the connection (the socket is destroyed).
   */
  static accept(client: Socket, listener: ListenerContext, generation: Generation, tracker: ConnectionTracker, hooks: ConnectionHooks): L4Connection | undefined {
    client.on('error', onSocketError); // first: nothing may fail before this listener exists
    const record = tracker.open(client, listener.name, normalizeAddress(client.remoteAddress));
    if (typeof record !== 'string') return new L4Connection(client, record, listener, generation, tracker, hooks);
    client.destroy(); // refused before a byte is read
    return undefined;
  }

  private constructor(client: Socket, record: ConnectionRecord, listener: ListenerContext, generation: Generation, tracker: ConnectionTracker, hooks: ConnectionHooks) {
    this.#client = client;
    this.#record = record;
    this.#listener = listener;
    this.#generation = generation;
    this.#tracker = tracker;
    this.#hooks = hooks;
    record.abort = (reason) => this.destroy(reason);
    client.on('close', this.#onClientClose);
    client.on('end', this.#onClientEnd);
    tracker.share(record, 'total', '', (refused) => { // other workers' connections count too
      if (refused) this.#abort('limit');
      else if (listener.trusted?.has(record.clientIp) === true) this.#readProxyHeader();
      else this.#admit();
    });
  }

  /** Ends the connection now (shutdown), whatever its state. */
  destroy(reason: CloseReason): void {
    if (this.#splice !== undefined) this.#splice.destroy(reason);
    else this.#abort(reason);
  }

  #readProxyHeader(): void {
    this.#awaitFirstData();
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      this.#firstData?.refresh();
      received = Buffer.concat([received, chunk]);
      const header = readProxyHeader(received);
      if (header.kind === 'incomplete') return;
      this.#client.removeListener('data', onData);
      if (header.kind === 'rejected') return this.#abort('bad-proxy-header');
      this.#client.pause();
      if (header.addresses !== undefined) {
        this.#proxied = header.addresses;
        this.#record.clientIp = normalizeAddress(header.addresses.sourceAddress);
      }
      if (received.length > header.length) this.#pending.push(received.subarray(header.length));
      this.#admit();
    };
    this.#client.on('data', onData);
  }

  #admit(): void {
    if (this.#tracker.admit(this.#record) !== undefined) return this.#abort('limit');
    this.#tracker.share(this.#record, 'per-ip', this.#record.clientIp, (refused) => {
      const route = refused ? undefined : this.#generation.router.select(this.#listener.port, this.#record.clientIp);
      if (refused) this.#abort('limit');
      else if (route === 'need-hello') this.#readHello();
      else this.#route(route);
    });
  }

  #readHello(): void {
    const reader = new ClientHelloReader({ maxBytes: this.#generation.maxHelloBytes });
    this.#awaitFirstData();
    const consider = (chunk: Buffer): boolean => {
      const result = reader.push(chunk);
      if (result.kind === 'incomplete') return false;
      this.#client.removeListener('data', onData);
      this.#client.pause();
      if (result.kind === 'rejected') {
        this.#abort('bad-hello');
        return true;
      }
      const route = this.#generation.router.select(this.#listener.port, this.#record.clientIp, { serverName: result.serverName });
      if (route === undefined || route === 'need-hello') this.#refuseServerName();
      else this.#route(route, result.alpn.includes('acme-tls/1'));
      return true;
    };
    const onData = (chunk: Buffer) => {
      this.#firstData?.refresh();
      this.#pending.push(chunk);
      consider(chunk);
    };
    // Bytes that came with the PROXY header are the hello's first bytes.
    for (const chunk of this.#pending) if (consider(chunk)) return;
    this.#client.on('data', onData);
    this.#client.resume();
  }

  #refuseServerName(): void {
    this.#reason = 'no-route';
    this.#client.write(UNRECOGNIZED_NAME_ALERT, () => this.#client.destroy());
  }

  /** `acmeTlsAlpn`: the hello offered acme-tls/1, a CA's TLS-ALPN-01 validation (RFC 8737). */
  #route(route: CompiledRoute | undefined, acmeTlsAlpn = false): void {
    if (route === undefined) return this.#abort('no-route');
    if (this.#tracker.assignRoute(this.#record, route.name, route.maxConnections) !== undefined) return this.#abort('limit');
    this.#tracker.share(this.#record, 'per-route', route.name, (refused) => (refused ? this.#abort('limit') : this.#routed(route, acmeTlsAlpn)), route.maxConnections);
  }

  #routed(route: CompiledRoute, acmeTlsAlpn: boolean): void {
    if (route.upstream === undefined) {
      const site = this.#generation.sites.get(route.name);
      return site === undefined ? this.#abort('rejected') : this.#serveHttp(route, site, acmeTlsAlpn);
    }
    this.#client.pause(); // the client's bytes wait in the kernel until the backend is there
    this.#stopFirstData();
    this.#tracker.setState(this.#record, 'connecting');
    const order = route.upstream.dialOrder();
    if (order.length === 0) return this.#abort('connect-failed'); // every target is out of rotation
    this.#dial(route, route.upstream, order, 0);
  }

  #dial(route: CompiledRoute, upstream: Upstream, order: UpstreamTarget[], attempt: number): void {
    const target = order[attempt]!;
    const reads: DirectReads = { sink: undefined, early: [] };
    this.#abandonDial = dial(target.host, target.port, upstream.connectMs, {
      onConnect: (backend) => {
        this.#abandonDial = undefined;
        this.#established(route, upstream, target, backend, reads);
      },
      onFail: (failure) => {
        this.#abandonDial = undefined; // a client that closed meanwhile abandoned the dial: no onFail then
        this.#hooks.connectFailed(route.name, target.address, failure);
        // Nothing was forwarded yet: the next target may take the connection.
        if (attempt + 1 < order.length) this.#dial(route, upstream, order, attempt + 1);
        else this.#abort('connect-failed');
      },
    }, { reads, clock: this.#generation.clock });
  }

  #established(route: CompiledRoute, upstream: Upstream, target: UpstreamTarget, backend: Socket, reads: DirectReads): void {
    backend.on('error', onSocketError); // the tick dial hands it over
    const record = this.#record;
    record.backend = backend;
    record.target = target.address;
    target.inFlight++; // least-request counts connections as requests
    this.#client.removeListener('close', this.#onClientClose);
    this.#client.removeListener('end', this.#onClientEnd);
    const first = this.#pending;
    this.#pending = [];
    const mode = upstream.config.proxyProtocol;
    if (mode !== undefined) {
      // The client as the next hop should see it: the PROXY header's source, or the socket's.
      const addresses = this.#proxied ?? addressesOf(this.#client);
      first.unshift(mode === 'v1' ? encodeProxyV1(addresses) : encodeProxyV2(addresses));
    }
    this.#tracker.setState(record, 'established');
    this.#splice = new Splice(this.#client, backend, route.timeouts, {
      onHalfClose: () => this.#tracker.setState(record, 'half-closed'),
      onEnd: (reason) => {
        target.inFlight--;
        this.#reason = reason;
        this.#finish();
      },
    }, { reads, clock: this.#generation.clock });
    this.#splice.start(first);
  }

  /**
   * Hands the connection to the route's HTTP site, over TLS for `terminate` routes. The
   * record stays open until the client socket closes; the site's server owns the timeouts
   * from here (keep-alive, headers, request).
   */
  #serveHttp(route: CompiledRoute, site: HttpSite, acmeTlsAlpn: boolean): void {
    const client = this.#client;
    this.#stopFirstData();
    client.removeListener('end', this.#onClientEnd);
    this.#tracker.setState(this.#record, 'established');
    const pending = this.#pending;
    const clientIp = this.#record.clientIp;
    if (site.proto === 'http') {
      // h2c with prior knowledge: the first bytes say which protocol (they stay in #pending).
      if (pending.length === 0 && site.sniffsPreface) {
        this.#awaitFirstData(); // stopped when #serveHttp is called again with the bytes
        client.once('data', (chunk: Buffer) => { client.pause(); this.#pending.push(chunk); this.#serveHttp(route, site, false); }).resume();
        return;
      }
      this.#pending = [];
      // Node's HTTP server reads a net.Socket's handle directly: bytes already read must come through a stream.
      const first = pending.length === 0 ? undefined : Buffer.concat(pending);
      const stream = first === undefined ? client : new PrefixedStream(client, first);
      this.#outer = stream;
      site.accept(stream, clientIp, first);
      if (pending.length === 0 && client.isPaused()) client.resume();
      return;
    }
    this.#pending = [];
    if (pending.length > 0) client.unshift(Buffer.concat(pending));
    this.#outer = terminateTls(client, { ...this.#generation, alpn: site.alpn }, (secure, outcome) => {
      this.#hooks.handshake(route.name, outcome);
      if (secure !== undefined) site.accept(secure, clientIp);
      else this.#reason ??= 'tls-failed';
    }, acmeTlsAlpn ? this.#generation.acme.current : undefined);
  }

  /** Starts (or restarts) the first-data timer: each chunk of a PROXY header or ClientHello pushes it back. */
  #awaitFirstData(): void {
    if (this.#firstData === undefined) this.#firstData = this.#generation.clock.timer(this.#onFirstDataTimeout, this.#generation.timeouts.firstDataMs);
    else this.#firstData.refresh();
  }

  #stopFirstData(): void {
    this.#firstData?.cancel();
    this.#firstData = undefined;
  }

  readonly #onFirstDataTimeout = (): void => { this.#abort('first-data-timeout'); };

  /** The client's FIN before the splice: awaited first bytes never come (the connection ends); while dialling, the splice carries it. */
  readonly #onClientEnd = (): void => {
    if (this.#abandonDial === undefined) this.#abort('client-closed');
  };

  /** Before the splice: the client went away, or was destroyed by #abort. */
  readonly #onClientClose = (hadError: boolean): void => {
    this.#stopFirstData();
    this.#reason ??= hadError ? 'client-reset' : 'client-closed';
    if (this.#abandonDial !== undefined) {
      const abandon = this.#abandonDial;
      this.#abandonDial = undefined;
      abandon(() => this.#finish()); // the record closes once the dialled socket has closed too
      return;
    }
    this.#finish();
  };

  #abort(reason: CloseReason): void {
    this.#stopFirstData();
    this.#reason ??= reason;
    if (this.#outer !== undefined && this.#outer !== this.#client) this.#outer.destroy();
    this.#client.destroy();
  }

  #finish(): void {
    if (this.#tracker.close(this.#record, this.#reason ?? 'client-closed')) this.#hooks.closed(this.#record);
  }
}

/** Errors are read from the close that follows them (`hadError`); this only keeps them handled. */
function onSocketError(): void {}
