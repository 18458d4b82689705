import { systemClock, type Clock } from '../../clock.js';
import { LoadBalancer } from '../../policy/load-balancer.js';
import { HoldfastDispatcher } from '../../client/create-dispatcher.js';
import type { DispatcherOptions } from '../../client/options.js';
import type { ProxyActionConfig } from '../config/http-config.js';
import { HealthChecker, type HealthHooks } from './health-checker.js';

/** One upstream of a `proxy` action. */
export interface UpstreamTarget {
  /** `host:port`, as configured: the metrics' `upstream` label. */
  readonly address: string;
  /** `http://host:port` or `https://host:port`. */
  readonly origin: string;
  readonly weight: number;
  /** Requests in flight to it (least-request reads it). */
  inFlight: number;
  /** False while its active health check fails. */
  healthy: boolean;
  /** Its breaker opened; cleared when the breaker lets requests through again (half-open or closed). */
  ejected: boolean;
}

export interface UpstreamTls {
  ca: Buffer | undefined;
  verify: boolean;
  servername: string | undefined;
}

export interface UpstreamHooks extends HealthHooks {
  /** A target's breaker opened: it is out of rotation for a while (outlier ejection). */
  ejected(route: string, address: string): void;
  /** A request met a stale keep-alive socket and was replayed at once on a fresh one (the dispatcher's own 'replay' event). */
  replayed(origin: string): void;
}

/**
 * The targets of one `proxy` action and the client that reaches them: one holdfast
 * dispatcher, so every target has its own keep-alive pool aligned to that upstream's idle
 * timeout, stale-socket replay, and its own circuit breaker. A target whose breaker is open
 * (passive outlier ejection) or whose health check fails is skipped when choosing.
 *
 * The dispatcher does not retry on the same target (`maxAttempts: 1`): a failed idempotent
 * request goes to another target instead (http-forward.ts), which is what helps when one
 * upstream is down.
 */
export class UpstreamGroup {
  readonly route: string;
  readonly targets: readonly UpstreamTarget[];
  readonly dispatcher: HoldfastDispatcher;
  readonly #balancer: LoadBalancer;
  readonly #checker: HealthChecker | undefined;

  constructor(route: string, action: ProxyActionConfig, tls: UpstreamTls | undefined, hooks: UpstreamHooks, clock: Clock = systemClock) {
    this.route = route;
    const scheme = tls === undefined ? 'http' : 'https';
    this.targets = action.targets.map(({ address, weight }) => ({ address, origin: `${scheme}://${address}`, weight, inFlight: 0, healthy: true, ejected: false }));
    this.#balancer = new LoadBalancer(action.balance, this.targets.map((t) => t.weight), { loadOf: (i) => this.targets[i]!.inFlight });
    const tlsOptions: DispatcherOptions['tls'] = tls === undefined ? undefined : { ca: tls.ca, rejectUnauthorized: tls.verify, servername: tls.servername };
    this.dispatcher = new HoldfastDispatcher({
      connections: action.connections,
      connectTimeoutMs: action.timeouts.connectMs,
      headersTimeoutMs: action.timeouts.responseMs,
      bodyTimeoutMs: action.timeouts.bodyMs,
      deadlineMs: 0,
      replay: true,
      retry: { maxAttempts: 1 },
      breaker: {
        consecutiveFailures: action.outlier.consecutiveFailures,
        openMs: action.outlier.ejectMs,
        maxOpenMs: Math.max(action.outlier.ejectMs, 60_000),
        // An upstream's own 500 is its answer; 502-504 say it is unreachable or overloaded.
        failureStatuses: [502, 503, 504],
      },
      tls: tlsOptions,
    });
    const byOrigin = new Map(this.targets.map((target) => [target.origin, target]));
    this.dispatcher.onCircuitChange(({ origin, to }) => {
      const target = byOrigin.get(origin);
      if (target === undefined) return;
      target.ejected = to === 'open' || to === 'isolated';
      if (target.ejected) hooks.ejected(route, target.address);
    });
    this.dispatcher.onReplay(({ origin }) => hooks.replayed(origin));
    this.#checker = action.healthCheck === undefined ? undefined : new HealthChecker(route, this.targets, action.healthCheck, tlsOptions, hooks, clock);
  }

  /**
   * Whether a request may go to `target` now. The breaker is asked only about an ejected
   * target (asking moves an open breaker to half-open once its time is up, which lets probes
   * through); the others cost a flag read per request.
   */
  available(target: UpstreamTarget): boolean {
    if (!target.healthy) return false;
    if (!target.ejected) return true;
    const state = this.dispatcher.circuit(target.origin);
    return state !== 'open' && state !== 'isolated';
  }

  /** The next target for a request (policy/load-balancer.ts), skipping `tried` and those out of rotation; undefined when none is left. */
  pick(tried?: ReadonlySet<UpstreamTarget>): UpstreamTarget | undefined {
    const index = this.#balancer.pick((i) => tried?.has(this.targets[i]!) === true || !this.available(this.targets[i]!));
    return index === undefined ? undefined : this.targets[index];
  }

  /** Stops health checks and closes every pooled connection, after in-flight requests end. */
  async close(): Promise<void> {
    this.#checker?.stop();
    await this.dispatcher.close();
  }
}
