import type { KeysetCursor } from './keyset-pager.js';
import type { SnRecord } from './table-client.js';
import { waitingBucket, type WaitingDefinition } from './waiting.js';

/** Where a table's sync stands. Saved with each page, so a sync stopped at any point resumes. */
export interface TableSyncState {
  /** `full` until the first complete pass, then `incremental`. */
  mode: 'full' | 'incremental';
  /** Inclusive start of the current pass (`YYYY-MM-DD HH:mm:ss`, UTC); undefined on a full pass. */
  since?: string;
  /** The position in the current pass; undefined between passes. */
  cursor?: KeysetCursor;
  /** The newest sys_updated_on stored. */
  watermark?: string;
  /** Deletes are read from sys_audit_delete rows created at or after this. */
  deleteSince?: string;
  /** When the last pass completed (ms since the epoch). */
  lastSuccessAt?: number;
  /** When the last full sys_id check completed (ms since the epoch). */
  lastCheckAt?: number;
  /**
   * The last sys_id check found more records gone than the engine deletes on a listing's
   * word (maxCheckDeleteShare), and kept them: until a check passes, the status says so.
   */
  refusedCheck?: { at: number; deletes: number; stored: number };
  /** The last error of this table's sync, until a pass succeeds. */
  lastError?: string;
  /** Records read in the current full pass, and the instance's count when it began. */
  loaded?: number;
  expected?: number;
}

/** Waiting counts: table → bucket → count. */
export type BucketCounts = Record<string, Record<string, number>>;

export interface GroupSummary {
  id: string;
  name: string;
  counts: BucketCounts;
  total: number;
}

export interface StoreSummary {
  groups: GroupSummary[];
  totals: BucketCounts;
  records: Record<string, number>;
}

export interface WaitingItem {
  sys_id: string;
  number: string;
  short_description: string;
  bucket: string;
  opened_at: string;
  sys_updated_on: string;
}

/** The mirror's store: records, per-group waiting aggregates and sync state. */
export interface MirrorStore {
  readonly kind: 'memory' | 'redis';
  /** Applies a page: upserts (older versions than the stored one are skipped), deletes, and the table's new state, at once. */
  apply(table: string, upserts: readonly SnRecord[], deletes: readonly string[], state?: TableSyncState): Promise<void>;
  state(table: string): Promise<TableSyncState | undefined>;
  setState(table: string, state: TableSyncState): Promise<void>;
  ids(table: string): Promise<Set<string>>;
  records(table: string): Promise<SnRecord[]>;
  summary(): Promise<StoreSummary>;
  /** The waiting records of one group (`''`: unassigned) in one table, oldest first. */
  waiting(table: string, group: string, limit: number): Promise<WaitingItem[]>;
  getMeta(key: string): Promise<string | undefined>;
  setMeta(key: string, value: string): Promise<void>;
  /** Calls `listener` after any change, from any replica; returns an unsubscribe function. */
  onChange(listener: () => void): () => void;
  close(): Promise<void>;
}

/** Where a record waits: its group and bucket, or undefined. */
export function placement(waiting: WaitingDefinition, table: string, record: SnRecord): { group: string; bucket: string } | undefined {
  const bucket = waitingBucket(waiting[table], record);
  return bucket === undefined ? undefined : { group: record.assignment_group ?? '', bucket };
}

/** True when `incoming` is older than `stored` (sys_updated_on, then sys_mod_count), so it must not replace it. */
export function isOlder(incoming: SnRecord, stored: { sys_updated_on?: string; sys_mod_count?: string } | undefined): boolean {
  if (stored === undefined) return false;
  const a = incoming.sys_updated_on ?? '';
  const b = stored.sys_updated_on ?? '';
  if (a !== b) return a < b;
  return Number(incoming.sys_mod_count ?? 0) < Number(stored.sys_mod_count ?? 0);
}

/** A waiting item from a record. */
export function waitingItem(record: SnRecord, bucket: string): WaitingItem {
  return {
    sys_id: record.sys_id ?? '',
    number: record.number ?? '',
    short_description: record.short_description ?? '',
    bucket,
    opened_at: record.opened_at || record.sys_created_on || '',
    sys_updated_on: record.sys_updated_on ?? '',
  };
}

/** Builds the summary from aggregate counts keyed `table\tgroup\tbucket` and the group records. */
export function summarize(counts: Iterable<[string, number]>, groups: Iterable<SnRecord>, records: Record<string, number>): StoreSummary {
  const names = new Map<string, string>();
  for (const g of groups) names.set(g.sys_id!, g.name ?? g.sys_id!);
  const byGroup = new Map<string, GroupSummary>();
  const totals: BucketCounts = {};
  for (const [key, n] of counts) {
    if (n <= 0) continue;
    const [table, group, bucket] = key.split('\t') as [string, string, string];
    let summary = byGroup.get(group);
    if (summary === undefined) byGroup.set(group, summary = { id: group, name: group === '' ? '(unassigned)' : names.get(group) ?? group, counts: {}, total: 0 });
    (summary.counts[table] ??= {})[bucket] = n;
    summary.total += n;
    (totals[table] ??= {})[bucket] = (totals[table]?.[bucket] ?? 0) + n;
  }
  const groups_ = [...byGroup.values()].sort((a, b) => b.total - a.total || a.name.localeCompare(b.name));
  return { groups: groups_, totals, records };
}

export const aggregateKey = (table: string, group: string, bucket: string) => `${table}\t${group}\t${bucket}`;
