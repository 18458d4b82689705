import { systemClock, type Clock } from 'holdfast/internal/clock.js';
import { LoadBalancer } from 'holdfast/internal/policy/load-balancer.js';
import { HoldfastDispatcher } from 'holdfast/internal/client/create-dispatcher.js';
import type { DispatcherOptions } from 'holdfast/internal/client/options.js';
import type { UpstreamConfig } from '../config/upstream-config.js';
import { HealthChecker, type HealthHooks } from './health-checker.js';

/** One target of an upstream, with what the balancer and the checks know of it. */
export interface UpstreamTarget {
  /** `host:port`, as configured: the metrics' `target` label. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  /** `http://host:port` or `https://host:port`. */
  readonly origin: string;
  readonly weight: number;
  /** Requests (HTTP routes) and connections (layer-4 routes) in flight to it: least-request reads it. */
  inFlight: number;
  /** False while its active health check fails. */
  healthy: boolean;
  /** Its breaker opened; cleared when the breaker lets requests through again (half-open or closed). */
  ejected: boolean;
}

/** The upstream's `tls:` with its CA file read. */
export interface UpstreamTls {
  ca: Buffer | undefined;
  verify: boolean;
  servername: string | undefined;
}

export interface UpstreamHooks extends HealthHooks {
  /** A target's breaker opened: it is out of rotation for a while (outlier ejection). */
  ejected(upstream: string, address: string): void;
  /** A request met a stale keep-alive socket and was replayed at once on a fresh one (the dispatcher's own 'replay' event). */
  replayed(upstream: string, address: string): void;
}

export interface UpstreamDeps {
  readonly tls: UpstreamTls | undefined;
  /** The global timeouts.connectMs, for an upstream that sets none. */
  readonly connectMs: number;
  readonly hooks: UpstreamHooks;
  readonly clock?: Clock;
}

/**
 * One entry of `upstreams:`, shared by every route that names it: its targets, one balancer
 * (policy/load-balancer.ts), one health checker, and, once an HTTP route uses it, one holdfast
 * dispatcher, so every target has its own keep-alive pool aligned to that target's idle
 * timeout, stale-socket replay, and its own circuit breaker. A target whose breaker is open
 * (passive outlier ejection) or whose health check fails is skipped when choosing, by HTTP
 * and layer-4 routes alike.
 *
 * The dispatcher does not retry on the same target (`maxAttempts: 1`): a failed idempotent
 * request goes to another target instead (http/http-forward.ts), which is what helps when one
 * target is down.
 */
export class Upstream {
  readonly name: string;
  readonly config: UpstreamConfig;
  readonly targets: readonly UpstreamTarget[];
  readonly connectMs: number;
  readonly #balancer: LoadBalancer;
  readonly #checker: HealthChecker | undefined;
  readonly #tls: DispatcherOptions['tls'];
  readonly #hooks: UpstreamHooks;
  #dispatcher: HoldfastDispatcher | undefined;
  /** The targets pick() must pass over, for the one call in progress (no closure per pick). */
  #tried: ReadonlySet<UpstreamTarget> | undefined;
  readonly #skip = (index: number): boolean => {
    const target = this.targets[index]!;
    return this.#tried?.has(target) === true || !this.available(target);
  };

  constructor(config: UpstreamConfig, { tls, connectMs, hooks, clock = systemClock }: UpstreamDeps) {
    this.name = config.name;
    this.config = config;
    this.connectMs = config.timeouts.connectMs ?? connectMs;
    this.#hooks = hooks;
    const scheme = tls === undefined ? 'http' : 'https';
    this.targets = config.targets.map(({ address, host, port, weight }) => ({ address, host, port, origin: `${scheme}://${address}`, weight, inFlight: 0, healthy: true, ejected: false }));
    this.#balancer = new LoadBalancer(config.balance, this.targets.map((t) => t.weight), { loadOf: (i) => this.targets[i]!.inFlight });
    this.#tls = tls === undefined ? undefined : { ca: tls.ca, rejectUnauthorized: tls.verify, servername: tls.servername };
    this.#checker = config.healthCheck === undefined ? undefined : new HealthChecker(this.name, this.targets, config.healthCheck, this.#tls, hooks, clock);
  }

  /** The HTTP routes' client to the targets, made when the first one asks. */
  get dispatcher(): HoldfastDispatcher {
    return this.#dispatcher ??= this.#makeDispatcher();
  }

  /** Sockets open to the targets from the HTTP pools. */
  get openSockets(): number {
    return this.#dispatcher?.openSockets ?? 0;
  }

  /**
   * Whether a request may go to `target` now. The breaker is asked only about an ejected
   * target (asking moves an open breaker to half-open once its time is up, which lets probes
   * through); the others cost a flag read per request.
   */
  available(target: UpstreamTarget): boolean {
    if (!target.healthy) return false;
    if (!target.ejected) return true;
    const state = this.#dispatcher?.circuit(target.origin);
    return state !== 'open' && state !== 'isolated';
  }

  /** The next target for a request, skipping `tried` and those out of rotation; undefined when none is left. */
  pick(tried?: ReadonlySet<UpstreamTarget>): UpstreamTarget | undefined {
    this.#tried = tried;
    const index = this.#balancer.pick(this.#skip);
    this.#tried = undefined;
    return index === undefined ? undefined : this.targets[index];
  }

  /**
   * The targets a layer-4 connection dials, in order: the chosen one, then the others in
   * rotation after it, as fallbacks for a connect that fails before any byte is forwarded.
   */
  dialOrder(): UpstreamTarget[] {
    const first = this.pick();
    if (first === undefined) return [];
    const start = this.targets.indexOf(first);
    const n = this.targets.length;
    const order = [first];
    for (let k = 1; k < n; k++) {
      const target = this.targets[(start + k) % n]!;
      if (this.available(target)) order.push(target);
    }
    return order;
  }

  /** Stops health checks and closes every pooled connection, after in-flight requests end. */
  async close(): Promise<void> {
    this.#checker?.stop();
    await this.#dispatcher?.close();
  }

  #makeDispatcher(): HoldfastDispatcher {
    const { outlier, timeouts } = this.config;
    const dispatcher = new HoldfastDispatcher({
      connections: this.config.connections,
      connectTimeoutMs: this.connectMs,
      headersTimeoutMs: timeouts.responseMs,
      bodyTimeoutMs: timeouts.bodyMs,
      deadlineMs: 0,
      replay: true,
      retry: { maxAttempts: 1 },
      breaker: {
        consecutiveFailures: outlier.consecutiveFailures,
        openMs: outlier.ejectMs,
        maxOpenMs: Math.max(outlier.ejectMs, 60_000),
        // An upstream's own 500 is its answer; 502-504 say it is unreachable or overloaded.
        failureStatuses: [502, 503, 504],
      },
      tls: this.#tls,
    });
    const byOrigin = new Map(this.targets.map((target) => [target.origin, target]));
    dispatcher.onCircuitChange(({ origin, to }) => {
      const target = byOrigin.get(origin);
      if (target === undefined) return;
      target.ejected = to === 'open' || to === 'isolated';
      if (target.ejected) this.#hooks.ejected(this.name, target.address);
    });
    dispatcher.onReplay(({ origin }) => this.#hooks.replayed(this.name, byOrigin.get(origin)?.address ?? origin));
    return dispatcher;
  }
}
