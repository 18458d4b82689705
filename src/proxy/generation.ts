import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { CidrSet } from '../net/address.js';
import { readCaFile, type CertificateStore } from './tls/certificate-store.js';
import { timeoutsFor, type ProxyConfig, type Timeouts } from './config/config.js';
import type { HttpMetrics } from './http/http-metrics.js';
import { HttpSite } from './http/http-site.js';
import { Router } from './l4/router.js';
import type { UpstreamTls } from './http/upstream-group.js';

/** What a connection reads from the proxy's current generation of config, fixed at accept. */
export interface Generation {
  readonly router: Router;
  /** Timeouts before a route is chosen (the global ones). */
  readonly timeouts: Timeouts;
  readonly maxHelloBytes: number;
  /** The HTTP side of `http` and `terminate*` routes, by route name. */
  readonly sites: ReadonlyMap<string, HttpSite>;
  readonly certificates: CertificateStore;
  readonly handshakeMs: number;
}

/**
 * One generation of config, as connections read it: the compiled routes, and the HTTP sites
 * (with their upstream pools and health checks) of the `http`, `terminate` and
 * `terminate-reencrypt` routes. A reload builds a new one; the old one's sites are retired.
 */
export function buildGeneration(config: ProxyConfig, deps: { certificates: CertificateStore; metrics: HttpMetrics; logger: Logger | undefined; clock?: Clock }): Generation {
  // Every file is read before any site exists: a site starts health checks and pools, which a
  // failure half-way would leave running.
  const upstreamTls = config.routes.map((route, i): UpstreamTls | undefined => {
    const action = route.action;
    if (action.type !== 'terminate-reencrypt') return undefined;
    return { ca: readCaFile(action.upstreamTls.caFile, `routes[${i}].action.upstreamTls.caFile`), verify: action.upstreamTls.verify, servername: action.upstreamTls.servername };
  });
  const sites = new Map<string, HttpSite>();
  const siteDeps = { settings: config.http, trusted: new CidrSet(config.http.trustedProxies), metrics: deps.metrics, logger: deps.logger, clock: deps.clock };
  config.routes.forEach((route, i) => {
    const action = route.action;
    if (action.type === 'http') sites.set(route.name, new HttpSite(action.routes, 'http', undefined, siteDeps));
    else if (action.type === 'terminate') sites.set(route.name, new HttpSite(action.routes, 'https', undefined, siteDeps));
    else if (action.type === 'terminate-reencrypt') {
      if (!action.upstreamTls.verify) deps.logger?.warn({ route: route.name }, 'upstream certificate verification is OFF for this route (upstreamTls.verify: false)');
      sites.set(route.name, new HttpSite(action.routes, 'https', upstreamTls[i], siteDeps));
    }
  });
  return {
    router: new Router(config),
    timeouts: timeoutsFor(config, undefined),
    maxHelloBytes: config.tls.maxHelloBytes,
    sites,
    certificates: deps.certificates,
    handshakeMs: config.tls.handshakeTimeoutMs,
  };
}

/** Closes a generation's HTTP sites: their timers and upstream pools. */
export async function closeSites(generation: Generation): Promise<void> {
  await Promise.all([...generation.sites.values()].map((site) => site.close()));
}
