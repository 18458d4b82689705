import { EventEmitter } from 'node:events';
import type { Clock } from 'holdfast/internal/clock.js';
import type { WarmProgress } from './cache-warmer.js';
import { WARMED_META } from './cache-warmer.js';
import type { MirrorStore, StoreSummary, TableSyncState } from './store.js';
import { UPSTREAM_META, type UpstreamStatus } from './sync-scheduler.js';

export interface TableStatus extends TableSyncState {
  records: number;
  inProgress: boolean;
  lagS: number | undefined;
}

export interface MirrorStatus {
  replica: string;
  ready: boolean;
  warm: WarmProgress | undefined;
  store: { kind: 'memory' | 'redis'; ok: boolean; error: string | undefined };
  upstream: UpstreamStatus & { breaker: string };
  tables: Record<string, TableStatus>;
  buckets: Record<string, string[]>;
  instance: string;
}

export interface ViewOptions {
  clock: Clock;
  store: MirrorStore;
  tables: readonly string[];
  replica: string;
  instance: string;
  buckets: Record<string, string[]>;
  stallAfterS: number;
  /** The instance's circuit breaker state. */
  breaker(): string;
  /** Tables a sync is working on now. */
  syncing(): ReadonlySet<string>;
  /** How long the oldest request to the instance has waited, in ms. */
  waitingMs(): number;
  warm(): WarmProgress | undefined;
  /** Each failure of the store (a read of the view, a tick, the Redis connection), as it happens: for the log. */
  onStoreError?: (err: Error) => void;
}

/** A status update goes out when a table's lag moved by this much, not every second. */
const LAG_STEP_S = 5;

/** Seconds since the table's last successful sync, or undefined before the first. */
const lagOf = (s: TableSyncState | undefined, now: number) => (s?.lastSuccessAt === undefined ? undefined : Math.round((now - s.lastSuccessAt) / 1000));

/**
 * What the dashboard shows, cached: the summary and the status, re-read from the store
 * when it changes (from any replica), and kept as the last good ones while the store
 * is away. Emits 'update' when either changed. A page view reads this, never the store
 * or the instance.
 */
export class MirrorView extends EventEmitter<{ update: ['summary' | 'status'] }> {
  readonly #o: ViewOptions;
  #summary: StoreSummary = { groups: [], totals: {}, records: {} };
  #status: MirrorStatus;

  constructor(options: ViewOptions) {
    super();
    this.#o = options;
    this.#status = this.#build([], undefined, undefined);
  }

  summary(): StoreSummary {
    return this.#summary;
  }

  status(): MirrorStatus {
    return this.#status;
  }

  /** Seconds of lag per table, for the metrics. */
  lags(): Record<string, number | undefined> {
    return Object.fromEntries(Object.entries(this.#status.tables).map(([t, s]) => [t, s.lagS]));
  }

  /** Re-reads the summary and status from the store; on failure keeps the last good ones and flags the store. */
  async refresh(): Promise<void> {
    const { store, tables } = this.#o;
    try {
      const [summary, states, upstream, warmed] = await Promise.all([
        store.summary(),
        Promise.all(tables.map(async (t) => [t, await store.state(t)] as const)),
        store.getMeta(UPSTREAM_META),
        store.getMeta(WARMED_META),
      ]);
      this.#summary = summary;
      this.#status = this.#build(states, upstream, warmed);
      this.emit('update', 'summary');
    } catch (err) {
      this.storeError(err as Error);
    }
  }

  storeError(err: Error): void {
    this.#o.onStoreError?.(err);
    this.#status = { ...this.#status, store: { kind: this.#o.store.kind, ok: false, error: err.message } };
    this.emit('update', 'status');
  }

  /** The warm-up moved: shown at once. */
  warmed(): void {
    this.#status = { ...this.#status, warm: this.#o.warm() };
    this.emit('update', 'status');
  }

  /**
   * Each second, without the store: the lag of each table and how long the instance has
   * kept a request waiting. A hung instance leaves a cycle waiting up to the 90 s deadline,
   * and nothing else would change the status meanwhile (issue 17).
   */
  live(): void {
    const waitingS = Math.floor(this.#o.waitingMs() / 1000);
    const stalled = waitingS >= this.#o.stallAfterS;
    const now = this.#o.clock.wallNow();
    const before = this.#status;
    const syncing = this.#o.syncing();
    const tables = Object.fromEntries(Object.entries(before.tables).map(([t, s]) => [t, { ...s, lagS: lagOf(s, now), inProgress: syncing.has(t) || s.cursor !== undefined }]));
    const moved = Object.entries(tables).some(([t, s]) => Math.abs((s.lagS ?? 0) - (before.tables[t]?.lagS ?? 0)) >= LAG_STEP_S);
    const changed = stalled !== (before.upstream.stalled === true) || (stalled && waitingS !== before.upstream.waitingS)
      || Object.entries(tables).some(([t, s]) => s.inProgress !== before.tables[t]?.inProgress);
    this.#status = { ...before, tables: changed || moved ? tables : before.tables, upstream: { ...before.upstream, waitingS, stalled } };
    if (changed || moved) this.emit('update', 'status');
  }

  #build(states: readonly (readonly [string, TableSyncState | undefined])[], upstream: string | undefined, warmed: string | undefined): MirrorStatus {
    const o = this.#o;
    const now = o.clock.wallNow();
    const syncing = o.syncing();
    const tables = Object.fromEntries(states.map(([t, s]) => [t, {
      ...(s ?? { mode: 'full' as const }),
      records: this.#summary.records[t] ?? 0,
      inProgress: syncing.has(t) || s?.cursor !== undefined,
      lagS: lagOf(s, now),
    }]));
    const up = upstream === undefined ? { reachable: true, lastContactAt: undefined, lastError: undefined } : JSON.parse(upstream) as UpstreamStatus;
    const live = this.#status?.upstream;
    return {
      replica: o.replica,
      ready: warmed !== undefined,
      warm: o.warm(),
      store: { kind: o.store.kind, ok: true, error: undefined },
      upstream: { ...up, waitingS: live?.waitingS ?? 0, stalled: live?.stalled ?? false, breaker: o.breaker() },
      tables,
      buckets: o.buckets,
      instance: o.instance,
    };
  }
}
