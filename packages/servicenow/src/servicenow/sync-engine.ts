import { andIntoEveryGroup } from './encoded-query.js';
import { keysetPages } from './keyset-pager.js';
import type { MirrorStore, TableSyncState } from './store.js';
import type { SnRecord, TableClient } from './table-client.js';

export const DEFAULT_OVERLAP_S = 60;
export const DEFAULT_FULL_CHECK_EVERY_MS = 3_600_000;
/** A sys_id check that would delete more than this share of a table's stored records is refused. */
export const DEFAULT_MAX_CHECK_DELETE_SHARE = 0.5;
/** sys_ids per `sys_idIN…` request: the query stays well under URL limits (33 characters each). */
const IDS_PER_REQUEST = 100;
/** Fields every synced table needs, whatever else it reads. */
export const KEY_FIELDS = ['sys_id', 'sys_updated_on', 'sys_mod_count'];

export interface TableSpec {
  name: string;
  /** Fields to mirror (the keys are added). */
  fields: readonly string[];
  /** Mirror only records matching this encoded query (no ORDERBY). */
  filter?: string;
}

export type SyncEvent =
  | { type: 'page'; table: string; kind: 'full' | 'incremental'; records: number; loaded: number; expected: number | undefined }
  | { type: 'deletes'; table: string; deleted: number; source: 'audit' | 'check' }
  | { type: 'restored'; table: string; records: number; source: 'audit' | 'check' }
  | { type: 'refused'; table: string; deletes: number; stored: number }
  | { type: 'done'; table: string; kind: 'full' | 'incremental'; records: number; ms: number }
  | { type: 'failed'; table: string; error: Error };

export interface SyncEngineOptions {
  client: Pick<TableClient, 'list'>;
  store: MirrorStore;
  tables: readonly TableSpec[];
  pageSize?: number;
  /** Each incremental pass starts this far before the newest record seen (records sharing a second, clocks). */
  overlapS?: number;
  /** How often every sys_id is listed to catch deletes the audit table missed. */
  fullCheckEveryMs?: number;
  /**
   * A sys_id check whose listing would delete more than this share of the stored records
   * is refused: ACLs can hide rows from a listing (even all of them, as `200 {"result":[]}`),
   * and no record is deleted on evidence that could be an error. Deletes recorded in
   * sys_audit_delete are applied whatever their number.
   */
  maxCheckDeleteShare?: number;
  onEvent?: (event: SyncEvent) => void;
  /** Wall time, ms since the epoch. */
  now?: () => number;
}

/** `YYYY-MM-DD HH:mm:ss` in UTC, as sys_updated_on is. */
export const glide = (epochMs: number) => new Date(epochMs).toISOString().slice(0, 19).replace('T', ' ');
const parseGlide = (value: string) => Date.parse(`${value.replace(' ', 'T')}Z`);

/**
 * Keeps each table of the store equal to the instance's (research/servicenow.md §5.5):
 *
 *   state none ──full pass──▶ incremental ──every cycle──▶ incremental pass from watermark − overlap
 *                                 │                         then deletes from sys_audit_delete
 *                                 └──every fullCheckEveryMs──▶ list every sys_id: read what the store lacks,
 *                                                               drop what the instance lacks (unless too many)
 *
 * Every page is applied with the table's new state (cursor, watermark) in one store
 * write, so a sync stopped anywhere, by SIGTERM or a dead replica, resumes at the
 * last applied page and the watermark never runs ahead of the data.
 */
export class SyncEngine {
  readonly #o: Required<Omit<SyncEngineOptions, 'onEvent'>> & Pick<SyncEngineOptions, 'onEvent'>;
  readonly #tables: Map<string, TableSpec>;

  constructor(options: SyncEngineOptions) {
    this.#o = { pageSize: 1000, overlapS: DEFAULT_OVERLAP_S, fullCheckEveryMs: DEFAULT_FULL_CHECK_EVERY_MS, maxCheckDeleteShare: DEFAULT_MAX_CHECK_DELETE_SHARE, now: Date.now, ...options };
    this.#tables = new Map(options.tables.map((t) => [t.name, { ...t, fields: [...new Set([...KEY_FIELDS, ...t.fields])] }]));
  }

  get tables(): string[] {
    return [...this.#tables.keys()];
  }

  /**
   * Makes sure deletes from `serverTimeMs − overlap` on will be read for `table`,
   * before anything of it is read (the cache warmer's first reads, or a full pass).
   */
  async markStart(table: string, serverTimeMs: number): Promise<void> {
    const state = await this.#o.store.state(table);
    if (state?.deleteSince !== undefined) return;
    await this.#o.store.setState(table, { ...(state ?? { mode: 'full' }), deleteSince: glide(serverTimeMs - this.#o.overlapS * 1000) });
  }

  /** One table: its pass (full or incremental), its deletes, and a full sys_id check when due. */
  async syncTable(name: string, signal?: AbortSignal): Promise<void> {
    const spec = this.#tables.get(name);
    if (spec === undefined) throw new Error(`table ${name} is not synced (synced: ${this.tables.join(', ')})`);
    const started = this.#o.now();
    let state: TableSyncState = (await this.#o.store.state(name)) ?? { mode: 'full' };
    const kind = state.mode;
    try {
      state = await this.#pass(spec, state, signal);
      state = await this.#deletes(spec, state, signal);
      if (kind === 'incremental' && this.#o.now() - (state.lastCheckAt ?? 0) >= this.#o.fullCheckEveryMs) state = await this.#check(spec, state, signal);
      state = { ...state, lastSuccessAt: this.#o.now(), lastError: undefined };
      state.lastCheckAt ??= state.lastSuccessAt; // a full pass is a full check
      await this.#o.store.setState(name, state);
      this.#o.onEvent?.({ type: 'done', table: name, kind, records: state.loaded ?? 0, ms: this.#o.now() - started });
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      if (!signal?.aborted) await this.#o.store.setState(name, { ...((await this.#o.store.state(name)) ?? state), lastError: error.message }).catch(() => {});
      this.#o.onEvent?.({ type: 'failed', table: name, error });
      throw error;
    }
  }

  async #pass(spec: TableSpec, start: TableSyncState, signal: AbortSignal | undefined): Promise<TableSyncState> {
    const { client, store, pageSize } = this.#o;
    const full = start.mode === 'full';
    const since = full ? undefined : start.since ?? (start.watermark === undefined ? undefined : glide(parseGlide(start.watermark) - this.#o.overlapS * 1000));
    let state: TableSyncState = { ...start, since, loaded: start.cursor === undefined ? 0 : start.loaded ?? 0 };
    const pages = keysetPages(client, spec.name, { filter: spec.filter, since, after: start.cursor, fields: spec.fields, pageSize, signal });
    for await (const page of pages) {
      if (state.deleteSince === undefined && page.serverTime !== undefined) state.deleteSince = glide(page.serverTime - this.#o.overlapS * 1000);
      const watermark = state.watermark === undefined || page.cursor!.ts > state.watermark ? page.cursor!.ts : state.watermark;
      const expected = full ? state.expected ?? page.totalCount : undefined;
      state = { ...state, cursor: page.cursor, watermark, loaded: state.loaded! + page.records.length, expected };
      signal?.throwIfAborted();
      await store.apply(spec.name, dedupe(page.records), [], state);
      this.#o.onEvent?.({ type: 'page', table: spec.name, kind: start.mode, records: page.records.length, loaded: state.loaded!, expected });
    }
    return { ...state, mode: 'incremental', cursor: undefined, since: undefined, expected: undefined };
  }

  /** Applies deletes recorded in sys_audit_delete since the table's delete watermark. */
  async #deletes(spec: TableSpec, start: TableSyncState, signal: AbortSignal | undefined): Promise<TableSyncState> {
    let state = start;
    const since = state.deleteSince ?? glide(this.#o.now() - this.#o.overlapS * 1000);
    let newest: string | undefined;
    let deleted = 0;
    const pages = keysetPages(this.#o.client, 'sys_audit_delete', {
      filter: `tablename=${spec.name}`, since, fields: ['sys_id', 'sys_updated_on', 'documentkey'], pageSize: this.#o.pageSize, signal,
    });
    for await (const page of pages) {
      const ids = page.records.map((r) => r.documentkey!).filter((id) => id !== '');
      newest = page.cursor!.ts;
      // A record deleted and then restored keeps its sys_id, and its audit row stays: what the
      // instance still has is read back, not deleted (issue 17).
      const present = await this.#fetch(spec, ids, signal);
      signal?.throwIfAborted();
      const gone = ids.filter((id) => !present.some((r) => r.sys_id === id));
      await this.#o.store.apply(spec.name, present, gone, state);
      deleted += gone.length;
      if (present.length > 0) this.#o.onEvent?.({ type: 'restored', table: spec.name, records: present.length, source: 'audit' });
    }
    // Keep the overlap behind the newest audit row: rows of the same second may still be written.
    const next = newest === undefined ? since : glide(Math.max(parseGlide(since), parseGlide(newest) - this.#o.overlapS * 1000));
    state = { ...state, deleteSince: next };
    if (deleted > 0) this.#o.onEvent?.({ type: 'deletes', table: spec.name, deleted, source: 'audit' });
    return state;
  }

  /**
   * Lists every sys_id of the table: reads the records the store lacks (a restored record
   * keeps its old sys_updated_on, behind the watermark) and drops those the instance no
   * longer has, unless that would drop more than `maxCheckDeleteShare` of the table.
   */
  async #check(spec: TableSpec, state: TableSyncState, signal: AbortSignal | undefined): Promise<TableSyncState> {
    const listed = new Set<string>();
    const pages = keysetPages(this.#o.client, spec.name, { filter: spec.filter, fields: ['sys_id', 'sys_updated_on'], pageSize: this.#o.pageSize, signal });
    for await (const page of pages) for (const r of page.records) listed.add(r.sys_id!);
    const stored = await this.#o.store.ids(spec.name);
    const missing = [...listed].filter((id) => !stored.has(id));
    let gone = [...stored].filter((id) => !listed.has(id));
    const next: TableSyncState = { ...state, lastCheckAt: this.#o.now(), refusedCheck: undefined };
    if (gone.length > 0 && gone.length > stored.size * this.#o.maxCheckDeleteShare) {
      next.refusedCheck = { at: this.#o.now(), deletes: gone.length, stored: stored.size };
      this.#o.onEvent?.({ type: 'refused', table: spec.name, deletes: gone.length, stored: stored.size });
      gone = [];
    }
    const found = await this.#fetch(spec, missing, signal);
    signal?.throwIfAborted();
    await this.#o.store.apply(spec.name, found, gone, next);
    if (found.length > 0) this.#o.onEvent?.({ type: 'restored', table: spec.name, records: found.length, source: 'check' });
    if (gone.length > 0) this.#o.onEvent?.({ type: 'deletes', table: spec.name, deleted: gone.length, source: 'check' });
    return next;
  }

  /** The records among `ids` that the instance has (and the table's filter matches), in chunks. */
  async #fetch(spec: TableSpec, ids: readonly string[], signal: AbortSignal | undefined): Promise<SnRecord[]> {
    const found: SnRecord[] = [];
    for (let i = 0; i < ids.length; i += IDS_PER_REQUEST) {
      const chunk = ids.slice(i, i + IDS_PER_REQUEST);
      const query = andIntoEveryGroup(spec.filter, `sys_idIN${chunk.join(',')}`);
      const page = await this.#o.client.list(spec.name, { query, fields: spec.fields, limit: chunk.length, signal });
      found.push(...page.records);
    }
    return found;
  }
}

/** The newest version of each sys_id of a page (the pager returns each once; this guards a caller's own batches). */
function dedupe<T extends Record<string, string>>(records: T[]): T[] {
  const seen = new Map<string, T>();
  for (const r of records) seen.set(r.sys_id!, r);
  return seen.size === records.length ? records : [...seen.values()];
}
