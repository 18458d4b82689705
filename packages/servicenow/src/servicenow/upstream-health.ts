import { systemClock, type Clock } from 'holdfast/internal/clock.js';
import type { Registry } from 'prom-client';
import type { RequestSample } from './table-client.js';

export const DEFAULT_HEALTH_INTERVAL_MS = 2000;
export const DEFAULT_HEALTH_POINTS = 150;

/** The upstream connection's health over one interval, for the dashboard's charts. */
export interface HealthPoint {
  /** End of the interval, ms since the epoch. */
  t: number;
  /** Requests per second to the instance. */
  rps: number;
  /** 99th percentile latency in ms, or null without requests. */
  p99Ms: number | null;
  /** Failures absorbed: retries by the dispatcher and by the Table API client. */
  retries: number;
  /** Requests replayed at once after failing on a reused socket. */
  replays: number;
  /** Circuit breaker state toward the instance. */
  breaker: string;
}

async function counterTotal(registry: Registry | undefined, name: string): Promise<number> {
  const metric = registry?.getSingleMetric(name);
  if (metric === undefined) return 0;
  const { values } = await metric.get();
  return values.reduce((sum, v) => sum + v.value, 0);
}

/**
 * Turns request samples and the dispatcher's counters into one point per interval,
 * keeping the last `points`. Retries and replays are read as deltas of the
 * `holdfast_client_*` counters, so they include what the dispatcher absorbed below.
 */
export class UpstreamHealth {
  readonly #latencies: number[] = [];
  #count = 0;
  #clientRetries = 0;
  readonly #points: HealthPoint[] = [];
  readonly #registry: Registry | undefined;
  readonly #breaker: () => string;
  readonly #clock: Clock;
  #cancel: () => void;
  readonly #max: number;
  readonly #intervalMs: number;
  #last = { retries: 0, replays: 0 };
  readonly #listeners = new Set<(point: HealthPoint) => void>();

  constructor(registry: Registry | undefined, breaker: () => string, { intervalMs = DEFAULT_HEALTH_INTERVAL_MS, points = DEFAULT_HEALTH_POINTS, clock = systemClock }: { intervalMs?: number; points?: number; clock?: Clock } = {}) {
    this.#registry = registry;
    this.#breaker = breaker;
    this.#max = points;
    this.#intervalMs = intervalMs;
    this.#clock = clock;
    const tick = () => { this.#cancel = clock.schedule(tick, intervalMs); void this.#tick(); };
    this.#cancel = clock.schedule(tick, intervalMs);
  }

  sample(s: RequestSample): void {
    this.#count++;
    if (this.#latencies.length < 10_000) this.#latencies.push(s.ms);
    if (s.attempt > 1) this.#clientRetries++;
  }

  points(): HealthPoint[] {
    return this.#points.slice();
  }

  onPoint(listener: (point: HealthPoint) => void): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  async #tick(): Promise<void> {
    const latencies = this.#latencies.splice(0).sort((a, b) => a - b);
    const count = this.#count;
    const clientRetries = this.#clientRetries;
    this.#count = 0;
    this.#clientRetries = 0;
    const [retries, replays] = await Promise.all([
      counterTotal(this.#registry, 'holdfast_client_retries_total'), counterTotal(this.#registry, 'holdfast_client_stale_socket_replays_total'),
    ]);
    const point: HealthPoint = {
      t: this.#clock.wallNow(),
      rps: Math.round((count * 1000 * 10) / this.#intervalMs) / 10,
      p99Ms: latencies.length === 0 ? null : Math.round(latencies[Math.min(latencies.length - 1, Math.ceil(latencies.length * 0.99) - 1)]!),
      retries: retries - this.#last.retries + clientRetries,
      replays: replays - this.#last.replays,
      breaker: this.#breaker(),
    };
    this.#last = { retries, replays };
    this.#points.push(point);
    if (this.#points.length > this.#max) this.#points.shift();
    for (const listener of this.#listeners) listener(point);
  }

  close(): void {
    this.#cancel();
    this.#listeners.clear();
  }
}
