import { Counter, type Registry } from 'prom-client';
import { FastCounter, FastHistogram } from 'holdfast/internal/observe/fast-metrics.js';
import type { ExchangeObserver } from './http-forward.js';

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The HTTP proxy's metrics, `holdfast_proxy_http_*`, in the proxy's registry. The two that
 * move on every request (requests, upstream latency) are FastCounter/FastHistogram series
 * found by a string key; the rest are plain prom-client counters. docs/reference/proxy.md#metrics.
 */
export class HttpMetrics implements ExchangeObserver {
  readonly #requests: FastCounter;
  readonly #latency: FastHistogram;
  readonly #retries: Counter<'route'>;
  readonly #replays: Counter<'upstream' | 'target'>;
  readonly #ejections: Counter<'upstream' | 'target'>;
  readonly #checks: Counter<'upstream' | 'target' | 'result'>;
  readonly #handshakes: Counter<'route' | 'outcome'>;
  readonly #refusals: Counter<'reason'>;
  readonly #protocols: Counter<'protocol'>;
  readonly #abusive: Counter<'reason'>;
  readonly #limited: Counter<'route'>;

  constructor(registry: Registry) {
    const p = 'holdfast_proxy_http_';
    const registers = [registry];
    this.#requests = new FastCounter(registry, `${p}requests_total`, 'HTTP requests answered, by route, status (499: the client left first) and target (none: answered by the proxy).');
    this.#latency = new FastHistogram(registry, `${p}upstream_latency_seconds`, 'Time from sending a request upstream to its response headers, by route and target.', LATENCY_BUCKETS);
    this.#retries = new Counter({ name: `${p}retries_total`, help: 'Requests sent to another target after a failure before the response, by route.', labelNames: ['route'], registers });
    this.#replays = new Counter({ name: `${p}replays_total`, help: 'Requests replayed at once on a fresh connection after a reused one turned out closed (stale keep-alive), by upstream and target.', labelNames: ['upstream', 'target'], registers });
    this.#ejections = new Counter({ name: `${p}ejections_total`, help: 'Targets taken out of rotation by their circuit breaker (outlier ejection), by upstream and target.', labelNames: ['upstream', 'target'], registers });
    this.#checks = new Counter({ name: `${p}health_checks_total`, help: 'Active health checks, by upstream, target and result (pass, fail).', labelNames: ['upstream', 'target', 'result'], registers });
    this.#handshakes = new Counter({ name: `${p}tls_handshakes_total`, help: 'TLS handshakes of terminating routes, by route and outcome (ok, timeout, closed, or the TLS error).', labelNames: ['route', 'outcome'], registers });
    this.#protocols = new Counter({ name: `${p}connections_total`, help: 'Client connections served, by protocol (http/1.1, h2).', labelNames: ['protocol'], registers });
    this.#abusive = new Counter({ name: 'holdfast_proxy_h2_sessions_closed_abusive_total', help: 'HTTP/2 sessions closed for abuse, by reason (glitches: rapid resets, refused or invalid frames; or the flood nghttp2 caught).', labelNames: ['reason'], registers });
    this.#limited = new Counter({ name: `${p}rate_limited_total`, help: 'Requests answered 429 by a route\'s rate limit, by route.', labelNames: ['route'], registers });
    this.#refusals = new Counter({ name: `${p}refused_total`, help: 'Requests refused before routing, by reason (bad-request, timeout, too-large, forward-proxy, connect).', labelNames: ['reason'], registers });
  }

  /** Series by route, then target, then status: found without building a key string per request. */
  readonly #requestSeries = new Map<string, Map<string, Map<number, { value: number }>>>();
  readonly #latencySeries = new Map<string, Map<string, ReturnType<FastHistogram['stateFor']>>>();

  /** Set when a library user listens for 'request' (telemetry.ts). */
  onFinished: ((route: string, status: number, target: string) => void) | undefined;

  finished(route: string, status: number, target: string): void {
    this.onFinished?.(route, status, target);
    const byTarget = this.#requestSeries.get(route) ?? this.#requestSeries.set(route, new Map()).get(route)!;
    const byStatus = byTarget.get(target) ?? byTarget.set(target, new Map()).get(target)!;
    let series = byStatus.get(status);
    if (series === undefined) {
      series = this.#requests.stateFor(`${route}\u0000${status}\u0000${target}`, () => ({ route, status: String(status), target }));
      byStatus.set(status, series);
    }
    series.value++;
  }

  upstreamLatency(route: string, target: string, seconds: number): void {
    const byTarget = this.#latencySeries.get(route) ?? this.#latencySeries.set(route, new Map()).get(route)!;
    let series = byTarget.get(target);
    if (series === undefined) {
      series = this.#latency.stateFor(`${route}\u0000${target}`, () => ({ route, target }));
      byTarget.set(target, series);
    }
    this.#latency.record(series, seconds);
  }

  retried(route: string): void {
    this.#retries.inc({ route });
  }

  replayed(upstream: string, address: string): void {
    this.#replays.inc({ upstream, target: address });
  }

  ejected(upstream: string, address: string): void {
    this.#ejections.inc({ upstream, target: address });
  }

  checked(upstream: string, address: string, result: 'pass' | 'fail'): void {
    this.#checks.inc({ upstream, target: address, result });
  }

  handshake(route: string, outcome: string): void {
    this.#handshakes.inc({ route, outcome });
  }

  refused(reason: string): void {
    this.#refusals.inc({ reason });
  }

  protocol(protocol: 'http/1.1' | 'h2'): void {
    this.#protocols.inc({ protocol });
  }

  /** A route's rate limit answered 429 (an arrow: handed to each RouteRateLimit). */
  readonly rateLimited = (route: string): void => {
    this.#limited.inc({ route });
  };

  abusive(reason: string): void {
    this.#abusive.inc({ reason });
  }
}
