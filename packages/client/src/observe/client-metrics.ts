import type { Counter, Histogram, Registry } from 'prom-client';
import { optionalPackage } from '../optional-package.js';

/** prom-client: an optional peer of the client package, loaded when metrics are turned on. */
export function promClient(): typeof import('prom-client') {
  return optionalPackage<typeof import('prom-client')>('prom-client', 'metrics');
}
import { FastCounter, FastHistogram } from './fast-metrics.js';

/** The series one origin's requests with one method and code update, kept by the origin. */
export interface RequestSeries {
  count: { value: number };
  duration: { buckets: Float64Array; sum: number; count: number };
}

/** What the pool and policies can tell about one origin when metrics are collected. */
export interface OriginSnapshot {
  origin: string;
  socketsOpen: number;
  socketsIdle: number;
  queueDepth: number;
  breakerState: string | undefined;
  idleLimitMs: number;
}

const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BREAKER_STATES = ['closed', 'open', 'half-open', 'isolated'] as const;

/**
 * The client's Prometheus metrics (prom-client), all prefixed `holdfast_client_`.
 * Counters and histograms are updated as things happen; gauges about pools,
 * queues and breakers are read from `snapshot()` when the registry is scraped.
 * Documented in docs/reference/client.md#metrics-and-logs.
 */
export class ClientMetrics {
  readonly registry: Registry;
  readonly requests: FastCounter;
  readonly attempts: FastCounter;
  readonly retries: Counter<'origin' | 'reason'>;
  readonly replays: Counter<'origin'>;
  readonly breakerTransitions: Counter<'origin' | 'from' | 'to'>;
  readonly queueWait: Histogram<'origin'>;
  readonly tokensDenied: Counter<'origin'>;
  readonly duration: FastHistogram;
  readonly socketsRetired: Counter<'origin' | 'reason'>;

  constructor(registry: Registry, snapshot: () => OriginSnapshot[]) {
    this.registry = registry;
    const { Counter, Histogram } = promClient();
    const p = 'holdfast_client_';
    const registers = [registry];
    // The per-request metrics: prom-client hashes labels on every update, these do not (fast-metrics.ts).
    this.requests = new FastCounter(registry, `${p}requests_total`, 'Requests finished, by outcome (ok, status, error) and status or error code.');
    this.attempts = new FastCounter(registry, `${p}attempts_total`, 'Network attempts, first tries, replays and retries included.');
    this.retries = new Counter({ name: `${p}retries_total`, help: 'Retries scheduled, by reason (connect, socket, timeout, stale, status NNN).', labelNames: ['origin', 'reason'], registers });
    this.replays = new Counter({ name: `${p}stale_socket_replays_total`, help: 'Requests replayed at once after failing on a reused socket.', labelNames: ['origin'], registers });
    this.breakerTransitions = new Counter({ name: `${p}breaker_transitions_total`, help: 'Circuit breaker state changes.', labelNames: ['origin', 'from', 'to'], registers });
    this.queueWait = new Histogram({ name: `${p}queue_wait_seconds`, help: 'Time requests waited in the concurrency queue.', labelNames: ['origin'], buckets: DURATION_BUCKETS, registers });
    this.tokensDenied = new Counter({ name: `${p}rate_limit_denied_total`, help: 'Times a request found no rate-limit token (it waited or failed).', labelNames: ['origin'], registers });
    this.duration = new FastHistogram(registry, `${p}request_duration_seconds`, 'Request latency until the response ends or fails, retries included.', DURATION_BUCKETS);
    this.socketsRetired = new Counter({ name: `${p}sockets_retired_total`, help: 'Pooled sockets closed by holdfast before the server could, by reason.', labelNames: ['origin', 'reason'], registers });

    this.#registerGauges(registry, snapshot);
  }

  /**
   * One finished request: its outcome counted, its duration observed. `cache` is the
   * origin's own map, by method, then by status (a number) or error code: no key is built
   * and nothing is hashed but the method per request.
   */
  requestDone(cache: Map<string, Map<number | string, RequestSeries>>, origin: string, method: string, outcome: 'ok' | 'status' | 'error', code: number | string, seconds: number): void {
    let byCode = cache.get(method);
    if (byCode === undefined) cache.set(method, byCode = new Map());
    let series = byCode.get(code);
    if (series === undefined) {
      const label = String(code);
      series = {
        count: this.requests.stateFor(`${origin} ${method} ${label}`, () => ({ origin, method, outcome, code: label })),
        duration: this.duration.stateFor(`${origin} ${method} ${outcome}`, () => ({ origin, method, outcome })),
      };
      byCode.set(code, series);
    }
    series.count.value++;
    this.duration.record(series.duration, seconds);
  }

  /** The attempts counter's series of one origin, for its `OriginState` to keep. */
  attemptsOf(origin: string): { value: number } {
    return this.attempts.stateFor(origin, () => ({ origin }));
  }

  #registerGauges(registry: Registry, snapshot: () => OriginSnapshot[]): void {
    const { Gauge } = promClient();
    const p = 'holdfast_client_';
    const registers = [registry];
    new Gauge({
      name: `${p}breaker_state`, help: 'Circuit breaker state: 1 for the current state, 0 for the others.', labelNames: ['origin', 'state'], registers,
      collect() {
        this.reset();
        for (const o of snapshot()) {
          if (o.breakerState === undefined) continue;
          for (const state of BREAKER_STATES) this.set({ origin: o.origin, state }, state === o.breakerState ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: `${p}queue_depth`, help: 'Requests waiting in the concurrency queue.', labelNames: ['origin'], registers,
      collect() {
        this.reset();
        for (const o of snapshot()) this.set({ origin: o.origin }, o.queueDepth);
      },
    });
    new Gauge({
      name: `${p}pool_sockets`, help: 'Pooled sockets per origin, open (all) and idle.', labelNames: ['origin', 'state'], registers,
      collect() {
        this.reset();
        for (const o of snapshot()) {
          this.set({ origin: o.origin, state: 'open' }, o.socketsOpen);
          this.set({ origin: o.origin, state: 'idle' }, o.socketsIdle);
        }
      },
    });
    new Gauge({
      name: `${p}idle_limit_seconds`, help: 'Current keep-alive idle limit per origin (hint, learned close, default).', labelNames: ['origin'], registers,
      collect() {
        this.reset();
        for (const o of snapshot()) this.set({ origin: o.origin }, o.idleLimitMs / 1000);
      },
    });
  }
}
