import type { Clock } from 'holdfast/internal/clock.js';
import { fullJitterBackoff } from 'holdfast/internal/policy/backoff.js';
import type { MirrorStore } from './store.js';
import type { SyncEngine } from './sync-engine.js';
import type { SyncLock } from 'holdfast/internal/sync-lock.js';

export const CYCLE_META = 'cycle.done';
export const UPSTREAM_META = 'upstream';
/** Every replica looks at the schedule this often. */
export const TICK_MS = 1000;

/** What the instance looked like from the last replica that talked to it (kept in the store). */
export interface UpstreamStatus {
  reachable: boolean;
  /** The last successful exchange with the instance (ms since the epoch). */
  lastContactAt: number | undefined;
  lastError: string | undefined;
  /** How long the oldest request in flight has waited for the instance's answer, in s (0: none waiting). */
  waitingS?: number;
  /** waitingS reached stallAfterS: the instance hangs, and what is shown may be stale. */
  stalled?: boolean;
}

export type CycleEvent = { type: 'cycle'; cycle: number; phase: 'started' | 'complete' | 'failed'; resumed?: boolean; error?: string };

export interface SchedulerOptions {
  clock: Clock;
  store: MirrorStore;
  lock: SyncLock;
  engine: SyncEngine;
  intervalS: number;
  heartbeatS: number;
  concurrency: number;
  /** Fills the critical groups once per deployment (the caller records the warmed mark). */
  warm(signal: AbortSignal): Promise<void>;
  warmed(): Promise<boolean>;
  /** A cheap request to the instance, when no cycle talked to it for heartbeatS. */
  probe(signal: AbortSignal): Promise<void>;
  /** The last time the instance answered (wall ms), as the table client saw it. */
  lastContact(): number;
  onCycle(event: CycleEvent): void;
  /** The store or the lock failed outside a cycle. */
  onStoreError(err: Error): void;
  /** After every tick: the store may have changed. */
  onTick(): void;
}

/**
 * Which replica syncs, and when, on the injected clock:
 *
 *   every TICK_MS:  cycle N = floor(wall / interval) due?  (store's cycle.done < N, no backoff)
 *        │ yes                                   │ no, and nothing heard for heartbeatS
 *        ▼                                       ▼
 *   take the sync lock (one replica) ──▶ N still due? ──▶ warm once, sync each table, cycle.done = N
 *                                    └──▶ probe the instance
 *
 * A failed cycle is tried again after a jittered backoff; a replica that dies stops
 * refreshing its lock, and after its TTL another one resumes each table at its cursor.
 */
export class SyncScheduler {
  readonly #o: SchedulerOptions;
  readonly #stop = new AbortController();
  readonly #syncing = new Set<string>();
  #cancelTick: (() => void) | undefined;
  #ticking: Promise<void> | undefined;
  #retryAt = 0;
  #failures = 0;

  constructor(options: SchedulerOptions) {
    this.#o = options;
  }

  /** The tables a sync is working on now. */
  get syncing(): ReadonlySet<string> {
    return this.#syncing;
  }

  /** Starts the first tick now (not awaited: a first load may take minutes), then one every TICK_MS until close(). */
  start(): void {
    this.#arm();
    void this.#runTick();
  }

  #arm(): void {
    this.#cancelTick = this.#o.clock.schedule(() => {
      if (this.#stop.signal.aborted) return;
      this.#arm();
      void this.#runTick();
    }, TICK_MS);
  }

  #runTick(): Promise<void> {
    // onTick after the tick is cleared, so that a tick it triggers is a new one.
    this.#ticking ??= this.#tick().finally(() => { this.#ticking = undefined; this.#o.onTick(); });
    return this.#ticking;
  }

  /** Syncs one table now, if no other sync holds the lock: true when it ran, false when refused. */
  async syncNow(table: string): Promise<boolean> {
    if (!this.#o.engine.tables.includes(table)) throw new Error(`table ${table} is not synced`);
    const ran = await this.#o.lock.tryRun((lost) => this.#sync(table, AbortSignal.any([lost, this.#stop.signal])));
    return ran !== undefined;
  }

  async #tick(): Promise<void> {
    if (this.#stop.signal.aborted) return;
    const { clock, intervalS, heartbeatS } = this.#o;
    const now = clock.wallNow();
    const cycle = Math.floor(now / (intervalS * 1000));
    try {
      const due = now >= this.#retryAt && cycle > await this.#doneCycle();
      const probe = !due && now - this.#o.lastContact() > heartbeatS * 1000 && now >= this.#retryAt;
      if (!due && !probe) return;
      await this.#o.lock.tryRun(async (lost) => {
        const signal = AbortSignal.any([lost, this.#stop.signal]);
        if (due && cycle > await this.#doneCycle()) await this.#cycle(cycle, signal);
        else if (probe) await this.#probe(signal);
      });
    } catch (err) {
      this.#o.onStoreError(err as Error); // the store or the lock is away (Redis down); the next tick tries again
    }
  }

  async #doneCycle(): Promise<number> {
    return Number((await this.#o.store.getMeta(CYCLE_META)) ?? -1);
  }

  async #cycle(cycle: number, signal: AbortSignal): Promise<void> {
    const { store, engine, clock } = this.#o;
    const states = await Promise.all(engine.tables.map((t) => store.state(t)));
    this.#o.onCycle({ type: 'cycle', cycle, phase: 'started', resumed: states.some((s) => s?.cursor !== undefined) });
    try {
      if (!(await this.#o.warmed())) await this.#o.warm(signal);
      await this.#syncTables(signal);
      await store.setMeta(CYCLE_META, String(cycle));
      this.#failures = 0;
      this.#retryAt = 0;
      await this.#setUpstream({ reachable: true, lastContactAt: clock.wallNow(), lastError: undefined });
      this.#o.onCycle({ type: 'cycle', cycle, phase: 'complete' });
    } catch (err) {
      if (signal.aborted) return this.#o.onCycle({ type: 'cycle', cycle, phase: 'failed', error: 'stopped' });
      const error = (err as Error).message;
      this.#retryAt = clock.wallNow() + 1000 + fullJitterBackoff({ baseMs: 2000, maxMs: 60_000 })(++this.#failures);
      await this.#setUpstream({ reachable: false, lastContactAt: this.#o.lastContact() || undefined, lastError: error }).catch(() => {});
      this.#o.onCycle({ type: 'cycle', cycle, phase: 'failed', error });
    }
  }

  /** Tables in order, up to `concurrency` at once; sys_user_group first (names for the groups). */
  async #syncTables(signal: AbortSignal): Promise<void> {
    const queue = [...this.#o.engine.tables];
    if (queue[0] === 'sys_user_group') await this.#sync(queue.shift()!, signal);
    const worker = async () => { for (let table = queue.shift(); table !== undefined; table = queue.shift()) await this.#sync(table, signal); };
    await Promise.all(Array.from({ length: this.#o.concurrency }, worker));
  }

  async #sync(table: string, signal: AbortSignal): Promise<void> {
    this.#syncing.add(table);
    try {
      await this.#o.engine.syncTable(table, signal);
    } finally {
      this.#syncing.delete(table);
    }
  }

  async #probe(signal: AbortSignal): Promise<void> {
    const { clock, heartbeatS } = this.#o;
    try {
      await this.#o.probe(signal);
      await this.#setUpstream({ reachable: true, lastContactAt: clock.wallNow(), lastError: undefined });
    } catch (err) {
      this.#retryAt = clock.wallNow() + heartbeatS * 1000;
      await this.#setUpstream({ reachable: false, lastContactAt: this.#o.lastContact() || undefined, lastError: (err as Error).message });
    }
  }

  #setUpstream(status: UpstreamStatus): Promise<void> {
    return this.#o.store.setMeta(UPSTREAM_META, JSON.stringify(status));
  }

  /** No new tick or cycle; the page in flight is abandoned (its table's state names the last applied page). */
  async close(): Promise<void> {
    this.#cancelTick?.();
    this.#stop.abort(new Error('mirror stopping'));
    await this.#ticking?.catch(() => {});
  }
}
