import { EventEmitter } from 'node:events';
import type { SnRecord } from './table-client.js';
import type { WaitingDefinition } from './waiting.js';
import {
  aggregateKey, isOlder, placement, summarize, waitingItem,
  type MirrorStore, type StoreSummary, type TableSyncState, type WaitingItem,
} from './store.js';

interface Placed { group: string; bucket: string }

/** The embedded store: one process, everything in memory. Aggregates are kept up to date on every write. */
export class MemoryStore implements MirrorStore {
  readonly kind = 'memory';
  readonly #waiting: WaitingDefinition;
  readonly #tables = new Map<string, Map<string, SnRecord>>();
  /** table → sys_id → where it waits. */
  readonly #placed = new Map<string, Map<string, Placed>>();
  readonly #counts = new Map<string, number>();
  readonly #states = new Map<string, TableSyncState>();
  readonly #meta = new Map<string, string>();
  readonly #events = new EventEmitter();
  #summary: StoreSummary | undefined;

  constructor(waiting: WaitingDefinition) {
    this.#waiting = waiting;
  }

  #table(name: string): Map<string, SnRecord> {
    let table = this.#tables.get(name);
    if (table === undefined) this.#tables.set(name, table = new Map());
    return table;
  }

  #place(table: string, id: string, next: Placed | undefined): void {
    let placed = this.#placed.get(table);
    if (placed === undefined) this.#placed.set(table, placed = new Map());
    const prev = placed.get(id);
    if (prev?.group === next?.group && prev?.bucket === next?.bucket) return;
    const bump = (p: Placed, by: number) => {
      const key = aggregateKey(table, p.group, p.bucket);
      this.#counts.set(key, (this.#counts.get(key) ?? 0) + by);
    };
    if (prev !== undefined) bump(prev, -1);
    if (next === undefined) placed.delete(id);
    else {
      placed.set(id, next);
      bump(next, 1);
    }
  }

  apply(table: string, upserts: readonly SnRecord[], deletes: readonly string[], state?: TableSyncState): Promise<void> {
    const records = this.#table(table);
    for (const record of upserts) {
      const id = record.sys_id!;
      if (isOlder(record, records.get(id))) continue;
      records.set(id, record);
      this.#place(table, id, placement(this.#waiting, table, record));
    }
    for (const id of deletes) {
      records.delete(id);
      this.#place(table, id, undefined);
    }
    if (state !== undefined) this.#states.set(table, structuredClone(state));
    if (upserts.length > 0 || deletes.length > 0) this.#changed();
    return Promise.resolve();
  }

  #changed(): void {
    this.#summary = undefined;
    this.#events.emit('change');
  }

  state(table: string): Promise<TableSyncState | undefined> {
    const state = this.#states.get(table);
    return Promise.resolve(state === undefined ? undefined : structuredClone(state));
  }

  setState(table: string, state: TableSyncState): Promise<void> {
    this.#states.set(table, structuredClone(state));
    return Promise.resolve();
  }

  ids(table: string): Promise<Set<string>> {
    return Promise.resolve(new Set(this.#table(table).keys()));
  }

  records(table: string): Promise<SnRecord[]> {
    return Promise.resolve([...this.#table(table).values()]);
  }

  summary(): Promise<StoreSummary> {
    this.#summary ??= summarize(this.#counts, this.#table('sys_user_group').values(),
      Object.fromEntries([...this.#tables].map(([name, t]) => [name, t.size])));
    return Promise.resolve(this.#summary);
  }

  waiting(table: string, group: string, limit: number): Promise<WaitingItem[]> {
    const records = this.#table(table);
    const items: WaitingItem[] = [];
    for (const [id, placed] of this.#placed.get(table) ?? []) {
      if (placed.group === group) items.push(waitingItem(records.get(id)!, placed.bucket));
    }
    items.sort((a, b) => (a.opened_at < b.opened_at ? -1 : a.opened_at > b.opened_at ? 1 : a.sys_id < b.sys_id ? -1 : 1));
    return Promise.resolve(items.slice(0, limit));
  }

  getMeta(key: string): Promise<string | undefined> {
    return Promise.resolve(this.#meta.get(key));
  }

  setMeta(key: string, value: string): Promise<void> {
    this.#meta.set(key, value);
    return Promise.resolve();
  }

  onChange(listener: () => void): () => void {
    this.#events.on('change', listener);
    return () => { this.#events.off('change', listener); };
  }

  close(): Promise<void> {
    this.#events.removeAllListeners();
    return Promise.resolve();
  }
}
