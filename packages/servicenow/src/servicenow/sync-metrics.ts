import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { SyncEvent } from './sync-engine.js';
import type { RequestSample } from './table-client.js';

const P = 'holdfast_servicenow_';

/** The mirror's `holdfast_servicenow_*` metrics. */
export class SyncMetrics {
  readonly #pages: Counter<'table' | 'kind'>;
  readonly #records: Counter<'table' | 'op'>;
  readonly #passes: Counter<'table' | 'kind' | 'outcome'>;
  readonly #requests: Counter<'table' | 'outcome'>;
  readonly #latency: Histogram<'table'>;
  readonly #cycles: Counter<'outcome'>;
  readonly #lastSuccess: Gauge<'table'>;
  readonly #warm: Gauge;

  readonly #wallNow: () => number;

  constructor(registry: Registry, lagOf: () => Record<string, number | undefined>, waitingOf: () => Record<string, Record<string, number>>, wallNow: () => number = Date.now) {
    this.#wallNow = wallNow;
    const registers = [registry];
    this.#pages = new Counter({ name: `${P}sync_pages_total`, help: 'Pages applied to the store, by table and pass kind.', labelNames: ['table', 'kind'], registers });
    this.#records = new Counter({ name: `${P}sync_records_total`, help: 'Records applied to the store, by table and operation (upsert, delete).', labelNames: ['table', 'op'], registers });
    this.#passes = new Counter({ name: `${P}sync_passes_total`, help: 'Table syncs, by kind (full, incremental) and outcome.', labelNames: ['table', 'kind', 'outcome'], registers });
    this.#requests = new Counter({ name: `${P}upstream_requests_total`, help: 'Table API requests, by table and outcome (status or error code).', labelNames: ['table', 'outcome'], registers });
    this.#latency = new Histogram({ name: `${P}upstream_request_seconds`, help: 'Table API request latency.', labelNames: ['table'], buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers });
    this.#cycles = new Counter({ name: `${P}sync_cycles_total`, help: 'Sync cycles run by this replica, by outcome.', labelNames: ['outcome'], registers });
    this.#lastSuccess = new Gauge({ name: `${P}sync_last_success_timestamp_seconds`, help: 'When each table last synced successfully.', labelNames: ['table'], registers });
    this.#warm = new Gauge({ name: `${P}warm_progress_ratio`, help: 'Cache warming progress of the critical groups (1 when done).', registers });
    new Gauge({
      name: `${P}sync_lag_seconds`, help: 'Seconds since each table last synced successfully.', labelNames: ['table'], registers,
      collect() {
        this.reset();
        for (const [table, lag] of Object.entries(lagOf())) if (lag !== undefined) this.set({ table }, lag);
      },
    });
    new Gauge({
      name: `${P}waiting_records`, help: 'Waiting records across all groups, by table and bucket.', labelNames: ['table', 'bucket'], registers,
      collect() {
        this.reset();
        for (const [table, buckets] of Object.entries(waitingOf())) for (const [bucket, n] of Object.entries(buckets)) this.set({ table, bucket }, n);
      },
    });
  }

  event(e: SyncEvent): void {
    switch (e.type) {
      case 'page':
        this.#pages.inc({ table: e.table, kind: e.kind });
        this.#records.inc({ table: e.table, op: 'upsert' }, e.records);
        break;
      case 'deletes':
        this.#records.inc({ table: e.table, op: 'delete' }, e.deleted);
        break;
      case 'done':
        this.#passes.inc({ table: e.table, kind: e.kind, outcome: 'ok' });
        this.#lastSuccess.set({ table: e.table }, this.#wallNow() / 1000);
        break;
      case 'failed':
        this.#passes.inc({ table: e.table, kind: 'any', outcome: 'failed' });
        break;
    }
  }

  request(s: RequestSample): void {
    this.#requests.inc({ table: s.table, outcome: String(s.outcome) });
    this.#latency.observe({ table: s.table }, s.ms / 1000);
  }

  cycle(outcome: 'ok' | 'failed' | 'skipped'): void {
    this.#cycles.inc({ outcome });
  }

  warm(ratio: number): void {
    this.#warm.set(ratio);
  }
}
