import { CidrSet } from '../../net/address.js';
import { timeoutsFor, type ProxyConfig, type RouteConfig, type Timeouts } from '../config/config.js';
import type { Upstream } from '../upstream/upstream.js';
import { HostSet } from '../http/http-router.js';

/** A route, compiled once per config: sets for matching, its upstream, its resolved timeouts. */
export interface CompiledRoute {
  readonly name: string;
  readonly config: RouteConfig;
  readonly timeouts: Timeouts;
  readonly maxConnections: number;
  /** The route needs the ClientHello: it matches on SNI, passes TLS through, or terminates TLS where a TLS-ALPN-01 challenge may come. */
  readonly needsHello: boolean;
  /** The upstream of `forward` and `passthrough`; undefined for `reject` and the HTTP actions (`http`, `terminate`). */
  readonly upstream: Upstream | undefined;
  matches(port: number, clientIp: string): boolean;
  matchesServerName(serverName: string | undefined): boolean;
}

/**
 * Routes in file order; the first that matches wins. Matching is in two steps so that
 * routes that need no SNI never wait for the client to speak (a server-speaks-first
 * protocol such as SMTP or MySQL would deadlock on a sniff):
 *
 *   select(port, ip)               → a route, 'need-hello', or undefined (no route)
 *   select(port, ip, serverName)   → after the hello was read
 */
export class Router {
  readonly routes: readonly CompiledRoute[];

  /** `upstreams`: the generation's, by name (the config schema checked that each route's exists). */
  constructor(config: ProxyConfig, upstreams: ReadonlyMap<string, Upstream>) {
    this.routes = config.routes.map((route) => compileRoute(config, route, upstreams));
  }

  select(port: number, clientIp: string, hello?: { serverName: string | undefined }): CompiledRoute | 'need-hello' | undefined {
    for (const route of this.routes) {
      if (!route.matches(port, clientIp)) continue;
      if (route.needsHello && hello === undefined) return 'need-hello';
      if (route.config.match.sni === undefined || route.matchesServerName(hello?.serverName)) return route;
    }
    return undefined;
  }
}

function compileRoute(config: ProxyConfig, route: RouteConfig, upstreams: ReadonlyMap<string, Upstream>): CompiledRoute {
  const ports = route.match.ports === undefined ? undefined : new Set(route.match.ports);
  const cidrs = route.match.clientCidrs === undefined ? undefined : new CidrSet(route.match.clientCidrs);
  const serverNames = new HostSet(route.match.sni ?? []);
  const action = route.action;
  // A TLS-ALPN-01 validation is told apart by its ALPN (acme-tls/1), read from the hello.
  const tlsAlpn = action.type === 'terminate' && config.certificates.some((c) => 'acme' in c && c.acme.challenge === 'tls-alpn-01');
  return {
    name: route.name,
    config: route,
    timeouts: timeoutsFor(config, route),
    maxConnections: route.maxConnections ?? config.limits.perRoute,
    needsHello: route.match.sni !== undefined || action.type === 'passthrough' || tlsAlpn,
    upstream: action.type === 'forward' || action.type === 'passthrough' ? upstreams.get(action.upstream)! : undefined,
    matches: (port, clientIp) => (ports === undefined || ports.has(port)) && (cidrs === undefined || cidrs.has(clientIp)),
    // A wildcard matches any depth below its suffix, as nginx's server_name does, but not the bare suffix.
    matchesServerName: (name) => name !== undefined && serverNames.has(name),
  };
}
