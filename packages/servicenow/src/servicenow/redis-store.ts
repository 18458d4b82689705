import type { Redis } from 'ioredis';
import { newRedis } from 'holdfast/internal/redis-client.js';
import type { SnRecord } from './table-client.js';
import type { WaitingDefinition } from './waiting.js';
import {
  aggregateKey, isOlder, placement, summarize, waitingItem,
  type MirrorStore, type StoreSummary, type TableSyncState, type WaitingItem,
} from './store.js';

export const DEFAULT_REDIS_PREFIX = 'holdfast:sn:';

/** `updated \t mod_count \t group \t bucket` of a stored record; bucket '' when it is not waiting. */
type IndexEntry = [updated: string, mod: string, group: string, bucket: string];

const epochS = (glide: string) => {
  const ms = Date.parse(`${glide.replace(' ', 'T')}Z`);
  return Number.isNaN(ms) ? 0 : Math.floor(ms / 1000);
};

/**
 * The store for several replicas (keys under `prefix`):
 *
 *   rec:<table>      hash  sys_id → record JSON
 *   idx:<table>      hash  sys_id → updated \t mod_count \t group \t bucket
 *   agg              hash  table \t group \t bucket → waiting count
 *   w:<table>:<grp>  zset  waiting sys_ids by opened_at
 *   state:<table>    JSON of the table's sync state
 *   meta             hash  warmed, cycle, …
 *   changed          channel: a page was applied (every replica refreshes its view)
 *
 * A page is applied in one MULTI, so every replica reads counts that match the
 * records. Only the replica holding the sync lock writes. Commands fail at once while
 * Redis is away (no offline queue); callers keep their last good view.
 */
export class RedisStore implements MirrorStore {
  readonly kind = 'redis';
  readonly #redis: Redis;
  readonly #sub: Redis;
  readonly #p: string;
  readonly #waiting: WaitingDefinition;
  readonly #listeners = new Set<() => void>();

  constructor(url: string, waiting: WaitingDefinition, prefix = DEFAULT_REDIS_PREFIX, onError: (err: Error) => void = () => {}) {
    this.#p = prefix;
    this.#waiting = waiting;
    const options = { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: (n: number) => Math.min(2000, 50 * 2 ** n) };
    this.#redis = newRedis(url, options);
    this.#sub = newRedis(url, { ...options, enableOfflineQueue: true });
    this.#redis.on('error', onError);
    this.#sub.on('error', onError);
    this.#sub.on('message', () => { for (const listener of this.#listeners) listener(); });
    void this.#sub.subscribe(`${prefix}changed`).catch(onError);
  }

  /** The client, for the sync lock and the shared rate limit. */
  get client(): Redis {
    return this.#redis;
  }

  /** Resolves once connected (the first command would fail before that, with no offline queue). */
  async ready(): Promise<void> {
    if (this.#redis.status === 'ready') return;
    await new Promise<void>((resolve, reject) => {
      this.#redis.once('ready', resolve);
      this.#redis.once('end', () => reject(new Error('redis connection ended')));
    });
  }

  async apply(table: string, upserts: readonly SnRecord[], deletes: readonly string[], state?: TableSyncState): Promise<void> {
    const p = this.#p;
    const ids = [...upserts.map((r) => r.sys_id!), ...deletes];
    const old = ids.length === 0 ? [] : await this.#redis.hmget(`${p}idx:${table}`, ...ids);
    const index = new Map<string, IndexEntry>();
    ids.forEach((id, i) => { const v = old[i]; if (v != null) index.set(id, v.split('\t') as IndexEntry); });
    const multi = this.#redis.multi();
    const unplace = (id: string, entry: IndexEntry | undefined) => {
      if (entry === undefined || entry[3] === '') return;
      multi.hincrby(`${p}agg`, aggregateKey(table, entry[2], entry[3]), -1).zrem(`${p}w:${table}:${entry[2]}`, id);
    };
    for (const record of upserts) {
      const id = record.sys_id!;
      const prev = index.get(id);
      if (isOlder(record, prev === undefined ? undefined : { sys_updated_on: prev[0], sys_mod_count: prev[1] })) continue;
      const next = placement(this.#waiting, table, record);
      const entry: IndexEntry = [record.sys_updated_on ?? '', record.sys_mod_count ?? '0', next?.group ?? '', next?.bucket ?? ''];
      multi.hset(`${p}rec:${table}`, id, JSON.stringify(record)).hset(`${p}idx:${table}`, id, entry.join('\t'));
      if (prev?.[2] !== entry[2] || prev[3] !== entry[3]) {
        unplace(id, prev);
        if (next !== undefined) {
          multi.hincrby(`${p}agg`, aggregateKey(table, next.group, next.bucket), 1)
            .zadd(`${p}w:${table}:${next.group}`, epochS(record.opened_at || record.sys_created_on || ''), id);
        }
      }
      index.set(id, entry);
    }
    for (const id of deletes) {
      unplace(id, index.get(id));
      multi.hdel(`${p}rec:${table}`, id).hdel(`${p}idx:${table}`, id);
      index.delete(id);
    }
    multi.sadd(`${p}tables`, table);
    if (state !== undefined) multi.set(`${p}state:${table}`, JSON.stringify(state));
    await multi.exec();
    if (ids.length > 0) await this.#redis.publish(`${p}changed`, table);
  }

  async state(table: string): Promise<TableSyncState | undefined> {
    const raw = await this.#redis.get(`${this.#p}state:${table}`);
    return raw === null ? undefined : JSON.parse(raw) as TableSyncState;
  }

  async setState(table: string, state: TableSyncState): Promise<void> {
    await this.#redis.set(`${this.#p}state:${table}`, JSON.stringify(state));
  }

  async ids(table: string): Promise<Set<string>> {
    return new Set(await this.#redis.hkeys(`${this.#p}idx:${table}`));
  }

  async records(table: string): Promise<SnRecord[]> {
    return Object.values(await this.#redis.hgetall(`${this.#p}rec:${table}`)).map((json) => JSON.parse(json) as SnRecord);
  }

  async summary(): Promise<StoreSummary> {
    const p = this.#p;
    const [counts, groups, tables] = await Promise.all([this.#redis.hgetall(`${p}agg`), this.records('sys_user_group'), this.#redis.smembers(`${p}tables`)]);
    const sizes = await Promise.all(tables.map((t) => this.#redis.hlen(`${p}idx:${t}`)));
    return summarize(Object.entries(counts).map(([k, v]) => [k, Number(v)]), groups, Object.fromEntries(tables.map((t, i) => [t, sizes[i]!])));
  }

  async waiting(table: string, group: string, limit: number): Promise<WaitingItem[]> {
    const p = this.#p;
    const ids = await this.#redis.zrange(`${p}w:${table}:${group}`, "0", String(limit - 1));
    if (ids.length === 0) return [];
    const [records, entries] = await Promise.all([this.#redis.hmget(`${p}rec:${table}`, ...ids), this.#redis.hmget(`${p}idx:${table}`, ...ids)]);
    return ids.flatMap((_, i) => {
      const json = records[i];
      const entry = entries[i];
      return json == null || entry == null ? [] : [waitingItem(JSON.parse(json) as SnRecord, entry.split('\t')[3]!)];
    });
  }

  async getMeta(key: string): Promise<string | undefined> {
    return (await this.#redis.hget(`${this.#p}meta`, key)) ?? undefined;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.#redis.hset(`${this.#p}meta`, key, value);
  }

  onChange(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => { this.#listeners.delete(listener); };
  }

  async close(): Promise<void> {
    this.#listeners.clear();
    await Promise.all([this.#redis, this.#sub].map((c) => c.status === 'end' ? undefined : c.quit().catch(() => c.disconnect())));
  }
}
