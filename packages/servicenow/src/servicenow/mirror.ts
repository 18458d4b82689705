import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { createDispatcher, type HoldfastDispatcher } from 'holdfast/internal/client/create-dispatcher.js';
import { systemClock, type Clock } from 'holdfast/internal/clock.js';
import { BasicAuth, OAuthAuth, type Authenticator } from './auth.js';
import { warmCache, WARMED_META, type WarmProgress } from './cache-warmer.js';
import { MirrorTelemetry, type MirrorEvent } from './telemetry.js';
import { MemoryStore } from './memory-store.js';
import { resolveMirrorOptions, type MirrorOptions, type ResolvedMirrorOptions } from './mirror-options.js';
import { MirrorView, type MirrorStatus } from './mirror-view.js';
import { RedisStore } from './redis-store.js';
import type { MirrorStore, StoreSummary, WaitingItem } from './store.js';
import { SyncEngine, type TableSpec } from './sync-engine.js';
import { LocalLock, RedisLock } from 'holdfast/internal/sync-lock.js';
import { SyncScheduler, TICK_MS } from './sync-scheduler.js';
import { TableClient } from './table-client.js';
import { UpstreamHealth, type HealthPoint } from './upstream-health.js';
import { bucketsOf, fieldsOf } from './waiting.js';
import type { DashboardSource } from './dashboard-source.js';

export type { MirrorStatus, TableStatus } from './mirror-view.js';
export type { UpstreamStatus } from './sync-scheduler.js';

export type { MirrorEvent } from './telemetry.js';

/**
 * The ServiceNow mirror, wired: the store (memory, or Redis with the lock and the shared
 * rate budget), the holdfast dispatcher and the Table API client, the sync engine, the
 * scheduler that decides which replica syncs and when (sync-scheduler.ts), and the view
 * the web app reads (mirror-view.ts). A page view reads the view only; it never calls
 * the instance.
 */
export class Mirror extends EventEmitter<{ event: [MirrorEvent]; update: ['summary' | 'status'] }> implements DashboardSource {
  readonly options: Readonly<ResolvedMirrorOptions>;
  /** Every event's metric, log line and 'event' (telemetry.ts). */
  readonly telemetry: MirrorTelemetry;
  readonly store: MirrorStore;
  readonly dispatcher: HoldfastDispatcher;
  readonly client: TableClient;
  readonly engine: SyncEngine;
  readonly health: UpstreamHealth;
  readonly view: MirrorView;
  readonly #scheduler: SyncScheduler;
  readonly #clock: Clock;
  #warm: WarmProgress | undefined;
  #lastContact = 0;
  #cancelLive: (() => void) | undefined;
  #cancelRefresh: (() => void) | undefined;

  constructor(input: MirrorOptions | Readonly<ResolvedMirrorOptions>, { logger, clock = systemClock }: { logger?: Logger; clock?: Clock } = {}) {
    super();
    const o = resolveMirrorOptions(input);
    this.options = o;
    this.#clock = clock;
    this.telemetry = new MirrorTelemetry({
      logger, replica: o.replica, emit: (e) => this.emit('event', e),
      lagOf: () => this.view.lags(), waitingOf: () => this.view.summary().totals, wallNow: () => clock.wallNow(),
    });
    const origin = new URL(o.instance).origin;
    const redisStore = o.redis === undefined ? undefined : new RedisStore(o.redis.url, o.waiting, o.redis.prefix, (err) => this.view.storeError(err));
    this.store = redisStore ?? new MemoryStore(o.waiting);
    const lock = redisStore === undefined ? new LocalLock() : new RedisLock(redisStore.client, `${o.redis!.prefix}sync`, o.redis!.lockTtlMs);
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
      metrics: { registry: this.telemetry.registry },
      logger,
    });
    const auth: Authenticator = o.auth.type === 'basic' ? new BasicAuth(o.auth.user, o.auth.password) : new OAuthAuth(o.instance, o.auth, this.dispatcher);
    const telemetry = this.telemetry;
    this.health = new UpstreamHealth(this.telemetry.registry, () => this.dispatcher.circuit(origin) ?? 'closed', { clock });
    this.client = new TableClient({
      instance: o.instance, auth, dispatcher: this.dispatcher,
      onSample: (s) => { telemetry.request(s); this.health.sample(s); if (typeof s.outcome === 'number' && s.outcome < 500) this.#lastContact = clock.wallNow(); },
    });
    const tables: TableSpec[] = o.tables.map((name) => ({ name, fields: [...o.fields[name]!, ...bucketFields(o, name)] }));
    this.engine = new SyncEngine({
      client: this.client, store: this.store, tables, pageSize: o.pageSize, overlapS: o.overlapS, fullCheckEveryMs: o.fullCheckEveryS * 1000,
      maxCheckDeleteShare: o.maxCheckDeleteShare, now: () => clock.wallNow(),
      onEvent: (e) => telemetry.sync(e),
    });
    this.#scheduler = new SyncScheduler({
      clock, store: this.store, lock, engine: this.engine, intervalS: o.intervalS, heartbeatS: o.heartbeatS, concurrency: o.concurrency,
      warmed: async () => (await this.store.getMeta(WARMED_META)) !== undefined,
      warm: (signal) => warmCache({
        client: this.client, store: this.store, engine: this.engine, waiting: o.waiting, groups: o.criticalGroups, pauseMs: o.warmPauseMs, pageSize: o.pageSize, tables, clock,
        onProgress: (progress) => { this.#warm = progress; telemetry.warm(progress); this.view.warmed(); },
      }, signal),
      probe: async (signal) => { await this.client.list('sys_user_group', { limit: 1, fields: ['sys_id'], signal }); },
      lastContact: () => this.#lastContact,
      onCycle: (e) => telemetry.cycle(e),
      onStoreError: (err) => this.view.storeError(err),
      onTick: () => { void this.view.refresh(); },
    });
    this.view = new MirrorView({
      clock, store: this.store, tables: o.tables, replica: o.replica, instance: o.instance, stallAfterS: o.stallAfterS,
      buckets: Object.fromEntries(o.tables.map((t) => [t, bucketsOf(o.waiting[t])])),
      breaker: () => this.dispatcher.circuit(origin) ?? 'closed',
      syncing: () => this.#scheduler.syncing,
      waitingMs: () => this.client.waitingMs(),
      warm: () => this.#warm,
      onStoreError: (err) => telemetry.storeUnavailable(err),
    });
    this.view.on('update', (what) => this.emit('update', what));
    this.store.onChange(() => this.#scheduleRefresh());
  }

  /** Starts: reads the store's view, then the scheduler (the first cycle, when due) and the live status. */
  async start(): Promise<void> {
    if (this.store instanceof RedisStore) await this.store.ready();
    await this.view.refresh();
    const live = () => { this.view.live(); this.#cancelLive = this.#clock.schedule(live, TICK_MS); };
    this.#cancelLive = this.#clock.schedule(live, TICK_MS);
    this.#scheduler.start();
  }

  get instance(): string {
    return this.options.instance;
  }

  get tables(): readonly string[] {
    return this.engine.tables;
  }

  summary(): StoreSummary {
    return this.view.summary();
  }

  status(): MirrorStatus {
    return this.view.status();
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

  onHealthPoint(listener: (point: HealthPoint) => void): () => void {
    return this.health.onPoint(listener);
  }

  /** The Prometheus text of holdfast_client_* and holdfast_servicenow_* metrics. */
  async metrics(): Promise<{ contentType: string; text: string }> {
    const { registry } = this.telemetry;
    return { contentType: registry.contentType, text: await registry.metrics() };
  }

  /** Syncs one table now, if no other sync holds the lock. Resolves when it has run (true) or was refused (false). */
  async syncNow(table: string): Promise<boolean> {
    const ran = await this.#scheduler.syncNow(table);
    await this.view.refresh();
    return ran;
  }

  /** Re-reads the view from the store. */
  refresh(): Promise<void> {
    return this.view.refresh();
  }

  #scheduleRefresh(): void {
    this.#cancelRefresh ??= this.#clock.schedule(() => { this.#cancelRefresh = undefined; void this.view.refresh(); }, 100);
  }

  /**
   * Stops: no new cycle starts; the page in flight is abandoned (the table's state
   * names the last applied page, so the watermark stays consistent); then the
   * connections, the store and the timers close.
   */
  async close(): Promise<void> {
    this.#cancelLive?.();
    this.#cancelRefresh?.();
    await this.#scheduler.close();
    this.health.close();
    await this.dispatcher.destroy();
    await this.store.close();
  }
}

/** Fields the waiting rules of `table` read. */
const bucketFields = (o: Readonly<ResolvedMirrorOptions>, table: string) => fieldsOf(o.waiting[table]);
