import { systemClock, type Clock } from 'holdfast/internal/clock.js';
import { CidrSet } from '../net/address.js';
import { readUpstreamCas, type CertificateStore } from './tls/certificate-store.js';
import { timeoutsFor, type ProxyConfig, type Timeouts } from './config/config.js';
import type { ProxyTelemetry } from './telemetry.js';
import type { AcmeRef } from './acme/acme-manager.js';
import { HttpSite } from './http/http-site.js';
import { Router } from './l4/router.js';
import { Upstream, type UpstreamTls } from './upstream/upstream.js';

/** What a connection reads from the proxy's current generation of config, fixed at accept. */
export interface Generation {
  readonly router: Router;
  /** Timeouts before a route is chosen (the global ones). */
  readonly timeouts: Timeouts;
  readonly maxHelloBytes: number;
  /** The HTTP side of `http` and `terminate` routes, by route name. */
  readonly sites: ReadonlyMap<string, HttpSite>;
  /** `upstreams:` by name: one balancer, health checker and pool each, shared by every route naming it. */
  readonly upstreams: ReadonlyMap<string, Upstream>;
  readonly certificates: CertificateStore;
  readonly handshakeMs: number;
  /** Every timer of a connection (first data, connect, handshake, splice) and of the health checks. */
  readonly clock: Clock;
  readonly acme: AcmeRef;
}

/**
 * One generation of config, as connections read it: the upstreams, the compiled routes, and
 * the HTTP sites of the `http` and `terminate` routes. A reload builds a new one; the old one
 * is retired (retireGeneration).
 */
export function buildGeneration(config: ProxyConfig, deps: { certificates: CertificateStore; telemetry: ProxyTelemetry; clock?: Clock; acme?: AcmeRef }): Generation {
  // Every file is read before any upstream exists: an upstream starts health checks, which a
  // failure half-way would leave running.
  const cas = readUpstreamCas(config);
  const tls = config.upstreams.map((upstream, i): UpstreamTls | undefined => upstream.tls === undefined ? undefined : {
    ca: cas[i], verify: upstream.tls.verify, servername: upstream.tls.servername,
  });
  const timeouts = timeoutsFor(config, undefined);
  const connectMs = timeouts.connectMs;
  const clock = deps.clock ?? systemClock;
  const upstreams = new Map(config.upstreams.map((upstream, i) => {
    if (upstream.tls?.verify === false) deps.telemetry.verificationOff(upstream.name);
    return [upstream.name, new Upstream(upstream, { tls: tls[i], connectMs, hooks: deps.telemetry, clock })];
  }));
  const sites = new Map<string, HttpSite>();
  const acme = deps.acme ?? { current: undefined };
  const siteDeps = { settings: config.http, trusted: new CidrSet(config.http.trustedProxies), metrics: deps.telemetry.http, upstreams, clock, acme, accessLog: deps.telemetry.accessLog };
  for (const route of config.routes) {
    const action = route.action;
    if (action.type === 'http' || action.type === 'terminate') sites.set(route.name, new HttpSite(action.routes, action.type === 'http' ? 'http' : 'https', siteDeps));
  }
  return {
    router: new Router(config, upstreams),
    timeouts,
    maxHelloBytes: config.tls.maxHelloBytes,
    sites,
    upstreams,
    certificates: deps.certificates,
    handshakeMs: config.tls.handshakeTimeoutMs,
    clock,
    acme,
  };
}

/**
 * A newer generation took over: each site closes its idle keep-alive connections now and busy
 * ones after their response; once every site is done, the upstreams' pools and health checks stop.
 */
export async function retireGeneration(generation: Generation): Promise<void> {
  await Promise.all([...generation.sites.values()].map((site) => site.retire()));
  await closeUpstreams(generation);
}

/** Closes a generation at once: its sites' timers, its upstreams' pools and health checks. */
export async function closeGeneration(generation: Generation): Promise<void> {
  await Promise.all([...generation.sites.values()].map((site) => site.close()));
  await closeUpstreams(generation);
}

async function closeUpstreams(generation: Generation): Promise<void> {
  await Promise.all([...generation.upstreams.values()].map((upstream) => upstream.close()));
}
