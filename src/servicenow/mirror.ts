import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import { createDispatcher, type HoldfastDispatcher } from '../client/create-dispatcher.js';
import { fullJitterBackoff } from '../policy/backoff.js';
import { BasicAuth, OAuthAuth, type Authenticator } from './auth.js';
import { warmCache, WARMED_META, type WarmProgress } from './cache-warmer.js';
import { MemoryStore } from './memory-store.js';
import { resolveMirrorOptions, type MirrorOptions, type ResolvedMirrorOptions } from './mirror-options.js';
import { RedisStore } from './redis-store.js';
import type { MirrorStore, StoreSummary, TableSyncState, WaitingItem } from './store.js';
import { SyncEngine, type SyncEvent, type TableSpec } from './sync-engine.js';
import { LocalLock, RedisLock, type SyncLock } from './sync-lock.js';
import { SyncMetrics } from './sync-metrics.js';
import { TableClient } from './table-client.js';
import { UpstreamHealth, type HealthPoint } from './upstream-health.js';
import { bucketsOf, fieldsOf } from './waiting.js';

const CYCLE_META = 'cycle.done';
const UPSTREAM_META = 'upstream';
const TICK_MS = 1000;

/** What the instance looked like from the last replica that talked to it. */
export interface UpstreamStatus {
  reachable: boolean;
  /** How long the oldest request in flight has waited for the instance's answer, in s (0: none waiting). */
  waitingS?: number;
  /** waitingS reached stallAfterS: the instance hangs, and what is shown may be stale. */
  stalled?: boolean;
  /** The last successful exchange with the instance (ms since the epoch). */
  lastContactAt: number | undefined;
  lastError: string | undefined;
}

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

export type MirrorEvent =
  | { type: 'cycle'; cycle: number; phase: 'started' | 'complete' | 'failed'; resumed?: boolean; error?: string }
  | { type: 'warm'; progress: WarmProgress }
  | SyncEvent;

/**
 * The ServiceNow mirror: the sync scheduler, the cache warmer, the store and the
 * cached view the dashboard serves. A page view reads the view only; it never calls
 * the instance.
 *
 * Scheduling: every replica ticks each second. Cycle N is due when
 * floor(now / interval) = N and the store's `cycle.done` is below N. The due replica
 * takes the sync lock (Redis with several replicas), checks `cycle.done` again, warms
 * the cache once per deployment, syncs each table and records `cycle.done = N`. A
 * replica that dies mid-cycle stops refreshing its lock; after the lock's TTL another
 * takes it and resumes each table at its last applied page.
 */
export class Mirror extends EventEmitter<{ event: [MirrorEvent]; update: ['summary' | 'status'] }> {
  readonly options: Readonly<ResolvedMirrorOptions>;
  readonly registry = new Registry();
  readonly store: MirrorStore;
  readonly dispatcher: HoldfastDispatcher;
  readonly client: TableClient;
  readonly engine: SyncEngine;
  readonly health: UpstreamHealth;
  readonly #lock: SyncLock;
  /** The mirrored tables with the fields read: the configured ones and those the waiting rules need. */
  readonly #tables: readonly TableSpec[];
  readonly #metrics: SyncMetrics;
  readonly #logger: Logger | undefined;
  readonly #stop = new AbortController();
  readonly #timer: NodeJS.Timeout;
  #ticking: Promise<void> | undefined;
  #retryAt = 0;
  #failures = 0;
  #syncing = new Set<string>();
  #warm: WarmProgress | undefined;
  #lastContact = 0;
  #summary: StoreSummary = { groups: [], totals: {}, records: {} };
  #status: MirrorStatus;
  #refreshTimer: NodeJS.Timeout | undefined;

  constructor(input: MirrorOptions, { logger }: { logger?: Logger } = {}) {
    super();
    const o = resolveMirrorOptions(input);
    this.options = o;
    this.#logger = logger;
    const origin = new URL(o.instance).origin;
    const redisStore = o.redis === undefined ? undefined : new RedisStore(o.redis.url, o.waiting, o.redis.prefix, (err) => this.#storeError(err));
    this.store = redisStore ?? new MemoryStore(o.waiting);
    this.#lock = redisStore === undefined ? new LocalLock() : new RedisLock(redisStore.client, `${o.redis!.prefix}sync`, o.redis!.lockTtlMs);
    this.dispatcher = createDispatcher({
      connections: o.concurrency + 1,
      // The instance cancels a transaction at 60 s (research/servicenow.md §3.3): wait longer than that.
      deadlineMs: 90_000, headersTimeoutMs: 90_000, bodyTimeoutMs: 90_000,
      breaker: true,
      limit: { maxConcurrent: o.concurrency, queueTimeoutMs: 0 },
      rateLimit: {
        requestsPerSecond: o.requestsPerSecond, burst: 1, maxWaitMs: 120_000,
        redis: redisStore === undefined ? undefined : { client: redisStore.client, keyPrefix: `${o.redis!.prefix}rate` },
      },
      retry: { statuses: [429, 500, 502, 503, 504], maxRetryAfterMs: 60_000 },
      metrics: { registry: this.registry },
      logger,
    });
    const auth: Authenticator = o.auth.type === 'basic' ? new BasicAuth(o.auth.user, o.auth.password) : new OAuthAuth(o.instance, o.auth, this.dispatcher);
    this.#metrics = new SyncMetrics(this.registry, () => this.#lags(), () => this.#summary.totals);
    collectDefaultMetrics({ register: this.registry, prefix: 'holdfast_servicenow_process_' });
    this.health = new UpstreamHealth(this.registry, () => this.dispatcher.circuit(origin) ?? 'closed');
    this.client = new TableClient({
      instance: o.instance, auth, dispatcher: this.dispatcher,
      onSample: (s) => { this.#metrics.request(s); this.health.sample(s); if (typeof s.outcome === 'number' && s.outcome < 500) this.#lastContact = Date.now(); },
    });
    this.#tables = o.tables.map((name) => ({ name, fields: [...o.fields[name]!, ...bucketFields(o, name)] }));
    this.engine = new SyncEngine({
      client: this.client, store: this.store, tables: this.#tables, pageSize: o.pageSize, overlapS: o.overlapS, fullCheckEveryMs: o.fullCheckEveryS * 1000, maxCheckDeleteShare: o.maxCheckDeleteShare,
      onEvent: (e) => { this.#metrics.event(e); this.emit('event', e); },
    });
    this.#status = this.#emptyStatus();
    this.store.onChange(() => this.#scheduleRefresh());
    this.#timer = setInterval(() => {
      this.#live();
      this.#ticking ??= this.#tick().finally(() => { this.#ticking = undefined; });
    }, TICK_MS);
    this.#timer.unref();
  }

  /** Starts: reads the store's view, then the first tick (the first cycle, when due). */
  async start(): Promise<void> {
    if (this.store instanceof RedisStore) await this.store.ready();
    await this.refresh();
    this.#ticking ??= this.#tick().finally(() => { this.#ticking = undefined; });
  }

  /** The last good summary (kept while the store is away). */
  summary(): StoreSummary {
    return this.#summary;
  }

  status(): MirrorStatus {
    return this.#status;
  }

  waiting(table: string, group: string, limit = 200): Promise<WaitingItem[]> {
    return this.store.waiting(table, group, limit);
  }

  recordUrl(table: string, sysId: string): string {
    return this.client.recordUrl(table, sysId);
  }

  healthPoints(): HealthPoint[] {
    return this.health.points();
  }

  /** Syncs one table now, if no other sync holds the lock. Resolves when it has run (true) or was refused (false). */
  async syncNow(table: string): Promise<boolean> {
    if (!this.engine.tables.includes(table)) throw new Error(`table ${table} is not synced`);
    const ran = await this.#lock.tryRun(async (lost) => {
      this.#syncing.add(table);
      try {
        await this.engine.syncTable(table, AbortSignal.any([lost, this.#stop.signal]));
      } finally {
        this.#syncing.delete(table);
      }
    });
    await this.refresh();
    return ran !== undefined;
  }

  async #tick(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    const now = Date.now();
    const cycle = Math.floor(now / (this.options.intervalS * 1000));
    try {
      const due = now >= this.#retryAt && cycle > Number((await this.store.getMeta(CYCLE_META)) ?? -1);
      const probe = !due && now - this.#lastContact > this.options.heartbeatS * 1000 && now >= this.#retryAt;
      if (!due && !probe) return;
      await this.#lock.tryRun(async (lost) => {
        const signal = AbortSignal.any([lost, this.#stop.signal]);
        if (due && cycle > Number((await this.store.getMeta(CYCLE_META)) ?? -1)) await this.#cycle(cycle, signal);
        else if (probe) await this.#probe(signal);
      });
    } catch (err) {
      this.#storeError(err as Error);
    }
    await this.refresh();
  }

  async #cycle(cycle: number, signal: AbortSignal): Promise<void> {
    const states = await Promise.all(this.engine.tables.map((t) => this.store.state(t)));
    const resumed = states.some((s) => s?.cursor !== undefined);
    this.#event({ type: 'cycle', cycle, phase: 'started', resumed });
    try {
      if ((await this.store.getMeta(WARMED_META)) === undefined) await this.#warmOnce(signal);
      await this.#syncTables(signal);
      await this.store.setMeta(CYCLE_META, String(cycle));
      this.#failures = 0;
      this.#retryAt = 0;
      await this.#setUpstream({ reachable: true, lastContactAt: Date.now(), lastError: undefined });
      this.#metrics.cycle('ok');
      this.#event({ type: 'cycle', cycle, phase: 'complete' });
    } catch (err) {
      const error = (err as Error).message;
      this.#metrics.cycle('failed');
      if (signal.aborted) return this.#event({ type: 'cycle', cycle, phase: 'failed', error: 'stopped' });
      this.#retryAt = Date.now() + 1000 + fullJitterBackoff({ baseMs: 2000, maxMs: 60_000 })(++this.#failures);
      await this.#setUpstream({ reachable: false, lastContactAt: this.#lastContact || undefined, lastError: error }).catch(() => {});
      this.#event({ type: 'cycle', cycle, phase: 'failed', error });
    }
  }

  /** Tables in order, up to `concurrency` at once; sys_user_group first (names for the groups). */
  async #syncTables(signal: AbortSignal): Promise<void> {
    const queue = [...this.engine.tables];
    const sync = async (table: string) => {
      this.#syncing.add(table);
      try {
        await this.engine.syncTable(table, signal);
      } finally {
        this.#syncing.delete(table);
      }
    };
    if (queue[0] === 'sys_user_group') await sync(queue.shift()!);
    const worker = async () => { for (let table = queue.shift(); table !== undefined; table = queue.shift()) await sync(table); };
    await Promise.all(Array.from({ length: this.options.concurrency }, worker));
  }

  async #warmOnce(signal: AbortSignal): Promise<void> {
    const o = this.options;
    await warmCache({
      client: this.client, store: this.store, engine: this.engine, waiting: o.waiting, groups: o.criticalGroups, pauseMs: o.warmPauseMs, pageSize: o.pageSize,
      tables: this.#tables,
      onProgress: (progress) => {
        this.#warm = progress;
        this.#metrics.warm(progress.done / progress.total);
        this.#event({ type: 'warm', progress });
      },
    }, signal);
  }

  async #probe(signal: AbortSignal): Promise<void> {
    try {
      await this.client.list('sys_user_group', { limit: 1, fields: ['sys_id'], signal });
      await this.#setUpstream({ reachable: true, lastContactAt: Date.now(), lastError: undefined });
    } catch (err) {
      this.#retryAt = Date.now() + this.options.heartbeatS * 1000;
      await this.#setUpstream({ reachable: false, lastContactAt: this.#lastContact || undefined, lastError: (err as Error).message });
    }
  }

  async #setUpstream(status: UpstreamStatus): Promise<void> {
    if (status.reachable) this.#lastContact = status.lastContactAt ?? Date.now();
    await this.store.setMeta(UPSTREAM_META, JSON.stringify(status));
  }

  #event(e: MirrorEvent): void {
    if (e.type === 'cycle') this.#logger?.info({ cycle: e.cycle, resumed: e.resumed, error: e.error, replica: this.options.replica }, `sync cycle ${e.cycle}: ${e.phase}`);
    this.emit('event', e);
  }

  #scheduleRefresh(): void {
    this.#refreshTimer ??= setTimeout(() => { this.#refreshTimer = undefined; void this.refresh(); }, 100);
  }

  /** Re-reads the summary and status from the store; on failure keeps the last good ones and flags the store. */
  async refresh(): Promise<void> {
    try {
      const [summary, states, upstream, warmed] = await Promise.all([
        this.store.summary(),
        Promise.all(this.engine.tables.map(async (t) => [t, await this.store.state(t)] as const)),
        this.store.getMeta(UPSTREAM_META),
        this.store.getMeta(WARMED_META),
      ]);
      this.#summary = summary;
      this.#status = this.#buildStatus(summary, states, upstream, warmed, undefined);
      this.emit('update', 'summary');
    } catch (err) {
      this.#storeError(err as Error);
    }
  }

  /**
   * Each second, without the store: the lag of each table and how long the instance has
   * kept a request waiting. A hung instance leaves a cycle waiting up to the 90 s deadline,
   * and nothing else would change the status meanwhile (issue 17).
   */
  #live(): void {
    const waitingS = Math.floor(this.client.waitingMs() / 1000);
    const stalled = waitingS >= this.options.stallAfterS;
    const now = Date.now();
    const before = this.#status;
    const tables = Object.fromEntries(Object.entries(before.tables).map(([t, s]) => [t, { ...s, lagS: lagOf(s, now), inProgress: this.#syncing.has(t) || s.cursor !== undefined }]));
    const moved = Object.entries(tables).some(([t, s]) => Math.abs((s.lagS ?? 0) - (before.tables[t]?.lagS ?? 0)) >= LAG_STEP_S);
    const changed = stalled !== (before.upstream.stalled === true) || (stalled && waitingS !== before.upstream.waitingS)
      || Object.entries(tables).some(([t, s]) => s.inProgress !== before.tables[t]?.inProgress);
    this.#status = { ...before, tables, upstream: { ...before.upstream, waitingS, stalled } };
    if (changed || moved) this.emit('update', 'status');
    else this.#status = { ...this.#status, tables: before.tables }; // keep the emitted lags: a page shows what it was sent
  }

  #storeError(err: Error): void {
    this.#logger?.warn({ err: err.message }, 'store unavailable; serving the last good data');
    this.#status = { ...this.#status, store: { kind: this.store.kind, ok: false, error: err.message } };
    this.emit('update', 'status');
  }

  #buildStatus(summary: StoreSummary, states: (readonly [string, TableSyncState | undefined])[], upstream: string | undefined, warmed: string | undefined, storeError: string | undefined): MirrorStatus {
    const now = Date.now();
    const tables = Object.fromEntries(states.map(([t, s]) => [t, {
      ...(s ?? { mode: 'full' as const }),
      records: summary.records[t] ?? 0,
      inProgress: this.#syncing.has(t) || s?.cursor !== undefined,
      lagS: lagOf(s, now),
    }]));
    const up = upstream === undefined ? { reachable: true, lastContactAt: undefined, lastError: undefined } : JSON.parse(upstream) as UpstreamStatus;
    const origin = new URL(this.options.instance).origin;
    return {
      replica: this.options.replica,
      ready: warmed !== undefined,
      warm: this.#warm,
      store: { kind: this.store.kind, ok: storeError === undefined, error: storeError },
      upstream: { ...up, waitingS: this.#status?.upstream.waitingS ?? 0, stalled: this.#status?.upstream.stalled ?? false, breaker: this.dispatcher.circuit(origin) ?? 'closed' },
      tables,
      buckets: Object.fromEntries(this.options.tables.map((t) => [t, bucketsOf(this.options.waiting[t])])),
      instance: this.options.instance,
    };
  }

  #emptyStatus(): MirrorStatus {
    return this.#buildStatus(this.#summary, [], undefined, undefined, undefined);
  }

  #lags(): Record<string, number | undefined> {
    return Object.fromEntries(Object.entries(this.#status.tables).map(([t, s]) => [t, s.lagS]));
  }

  /**
   * Stops: no new cycle starts; the page in flight is abandoned (the table's state
   * names the last applied page, so the watermark stays consistent); then the
   * connections, the store and the timers close.
   */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    clearTimeout(this.#refreshTimer);
    this.#stop.abort(new Error('mirror stopping'));
    await this.#ticking?.catch(() => {});
    this.health.close();
    await this.dispatcher.destroy();
    await this.store.close();
  }
}

/** A status update goes out when a table's lag moved by this much, not every second. */
const LAG_STEP_S = 5;

/** Seconds since the table's last successful sync, or undefined before the first. */
const lagOf = (s: TableSyncState | undefined, now: number) => (s?.lastSuccessAt === undefined ? undefined : Math.round((now - s.lastSuccessAt) / 1000));

/** Fields the waiting rules of `table` read. */
const bucketFields = (o: Readonly<ResolvedMirrorOptions>, table: string) => fieldsOf(o.waiting[table]);
