import { Counter, Gauge, Registry } from 'prom-client';
import { CONNECTION_STATES, type ConnectionRecord, type ConnectionTracker } from '../../net/connection-tracker.js';

const NO_ROUTE = 'none';

/**
 * The layer-4 proxy's Prometheus metrics, all prefixed `holdfast_proxy_`. Counters move once
 * per connection (never per chunk); the active gauge and the byte counters are computed when
 * the registry is scraped, from the tracker and the sockets' own byte counts. Documented in
 * docs/reference/proxy.md#metrics.
 */
export class ProxyMetrics {
  readonly registry: Registry;
  readonly #opened: Counter<'listener'>;
  readonly #closed: Counter<'route' | 'reason'>;
  readonly #refused: Counter<'limit' | 'listener'>;
  readonly #connectFailures: Counter<'route' | 'target' | 'failure'>;
  readonly #reloads: Counter<'result'>;
  /** Bytes of closed connections, by route and direction; live ones are added at scrape time. */
  readonly #closedBytes = new Map<string, { in: number; out: number }>();
  readonly #reportedBytes = new Map<string, number>();

  constructor(tracker: ConnectionTracker, registry = new Registry()) {
    this.registry = registry;
    const registers = [registry];
    const p = 'holdfast_proxy_';
    this.#opened = new Counter({ name: `${p}connections_opened_total`, help: 'Connections accepted, by listener.', labelNames: ['listener'], registers });
    this.#closed = new Counter({ name: `${p}connections_closed_total`, help: 'Connections closed, by route (none: before one was chosen) and reason.', labelNames: ['route', 'reason'], registers });
    this.#refused = new Counter({ name: `${p}limit_refusals_total`, help: 'Connections refused by a limit (total, per-ip, per-route, rate-per-ip), by listener.', labelNames: ['limit', 'listener'], registers });
    this.#connectFailures = new Counter({ name: `${p}backend_connect_failures_total`, help: 'Backend connects that failed (refused, timeout, error), by route and target.', labelNames: ['route', 'target', 'failure'], registers });
    this.#reloads = new Counter({ name: `${p}config_reloads_total`, help: 'Config reloads, by result (applied, invalid).', labelNames: ['result'], registers });
    new Gauge({
      name: `${p}connections_active`,
      help: 'Open connections, by state and route.',
      labelNames: ['state', 'route'],
      registers,
      collect() {
        this.reset();
        for (const state of CONNECTION_STATES) if (state !== 'closed') this.set({ state, route: NO_ROUTE }, 0);
        const counts = new Map<string, number>();
        for (const record of tracker.records()) {
          const key = `${record.state}\u0000${record.route ?? NO_ROUTE}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
        }
        for (const [key, n] of counts) {
          const [state = '', route = ''] = key.split('\u0000');
          this.set({ state, route }, n);
        }
      },
    });
    const closedBytes = this.#closedBytes;
    const reported = this.#reportedBytes;
    new Counter({
      name: `${p}bytes_total`,
      help: 'Bytes forwarded, by route and direction (client_to_backend, backend_to_client), open connections included.',
      labelNames: ['route', 'direction'],
      registers,
      collect() {
        const totals = new Map<string, { in: number; out: number }>();
        for (const [route, bytes] of closedBytes) totals.set(route, { ...bytes });
        for (const record of tracker.records()) {
          const route = record.route ?? NO_ROUTE;
          const total = totals.get(route) ?? { in: 0, out: 0 };
          total.in += record.client.bytesRead;
          total.out += record.client.bytesWritten;
          totals.set(route, total);
        }
        // Counters only go up: the increment is the total now minus what was reported.
        for (const [route, total] of totals) {
          for (const [direction, value] of [['client_to_backend', total.in], ['backend_to_client', total.out]] as const) {
            const key = `${route}\u0000${direction}`;
            const delta = value - (reported.get(key) ?? 0);
            if (delta > 0) this.inc({ route, direction }, delta);
            reported.set(key, Math.max(value, reported.get(key) ?? 0));
          }
        }
      },
    });
    tracker.on('refused', (limit, listener) => this.#refused.inc({ limit, listener }));
    tracker.on('closed', (record) => this.#onClosed(record));
  }

  opened(listener: string): void {
    this.#opened.inc({ listener });
  }

  connectFailed(route: string, target: string, failure: string): void {
    this.#connectFailures.inc({ route, target, failure });
  }

  reloaded(result: 'applied' | 'invalid'): void {
    this.#reloads.inc({ result });
  }

  #onClosed(record: ConnectionRecord): void {
    const route = record.route ?? NO_ROUTE;
    this.#closed.inc({ route, reason: record.reason ?? 'client-closed' });
    const bytes = this.#closedBytes.get(route) ?? { in: 0, out: 0 };
    bytes.in += record.client.bytesRead;
    bytes.out += record.client.bytesWritten;
    this.#closedBytes.set(route, bytes);
  }
}
