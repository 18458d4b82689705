import { delay, systemClock, type Clock } from 'holdfast/internal/clock.js';
import { EncodedQuery } from './encoded-query.js';
import { keysetPages } from './keyset-pager.js';
import type { MirrorStore } from './store.js';
import { KEY_FIELDS, type SyncEngine, type TableSpec } from './sync-engine.js';
import type { TableClient } from './table-client.js';
import { waitingQuery, type WaitingDefinition } from './waiting.js';

export const DEFAULT_WARM_PAUSE_MS = 200;
export const WARMED_META = 'warmed';

export interface WarmProgress {
  done: number;
  total: number;
  group: string;
}

export interface CacheWarmerOptions {
  client: TableClient;
  store: MirrorStore;
  engine: SyncEngine;
  tables: readonly TableSpec[];
  waiting: WaitingDefinition;
  /** Names of the groups to warm first; empty: every active group. */
  groups: readonly string[];
  /** A pause between groups, on top of the rate limit every request already waits for. */
  pauseMs?: number;
  pageSize?: number;
  clock?: Clock;
  onProgress?: (progress: WarmProgress) => void;
}

/**
 * Fills the store with the waiting records of the critical groups before the full
 * load, so that the dashboard is right for them within seconds. The seed's version
 * fired every group's queries at once and exhausted the pool; this one asks for one
 * group's tables at a time, through the same rate limit as the sync, and pauses
 * between groups. It runs once per deployment: the caller holds the sync lock and
 * records WARMED_META in the shared store when it is done.
 */
export async function warmCache(o: CacheWarmerOptions, signal: AbortSignal): Promise<void> {
  const clock = o.clock ?? systemClock;
  await o.engine.syncTable('sys_user_group', signal);
  const groups = await o.store.records('sys_user_group');
  const wanted = o.groups.length === 0
    ? groups.filter((g) => g.active !== 'false')
    : o.groups.map((name) => {
      const group = groups.find((g) => g.name === name || g.sys_id === name);
      if (group === undefined) throw new Error(`critical group "${name}" is not a sys_user_group on the instance`);
      return group;
    });
  const tables = o.tables.filter((t) => o.waiting[t.name] !== undefined && o.waiting[t.name]!.length > 0);
  for (const [i, group] of wanted.entries()) {
    for (const table of tables) {
      const filter = new EncodedQuery().where('assignment_group', '=', group.sys_id!).and(waitingQuery(o.waiting[table.name]!));
      const fields = [...new Set([...KEY_FIELDS, ...table.fields])];
      for await (const page of keysetPages(o.client, table.name, { filter: filter.toString(), fields, pageSize: o.pageSize, signal })) {
        if (page.serverTime !== undefined) await o.engine.markStart(table.name, page.serverTime);
        signal.throwIfAborted();
        await o.store.apply(table.name, page.records, []);
      }
    }
    o.onProgress?.({ done: i + 1, total: wanted.length, group: group.name ?? group.sys_id! });
    if (i < wanted.length - 1 && (o.pauseMs ?? DEFAULT_WARM_PAUSE_MS) > 0) await delay(clock, o.pauseMs ?? DEFAULT_WARM_PAUSE_MS, signal);
  }
  await o.store.setMeta(WARMED_META, JSON.stringify({ at: clock.wallNow(), groups: wanted.length }));
}
