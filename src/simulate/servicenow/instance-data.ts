import { readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { QueryEngine, type QueryEngineOptions } from './query-engine.js';
import { TableStore } from './table-store.js';
import { INACTIVE_STATES, TABLES, type SnRecord } from './tables.js';

/** `YYYY-MM-DD HH:mm:ss` in UTC, as sys_updated_on is stored and returned. */
export function glideDateTime(ms: number): string {
  const day = Math.floor(ms / 86_400_000);
  let date = DAYS.get(day);
  if (date === undefined) {
    date = new Date(day * 86_400_000).toISOString().slice(0, 10);
    if (DAYS.size > 4096) DAYS.clear();
    DAYS.set(day, date);
  }
  const seconds = Math.floor((ms - day * 86_400_000) / 1000);
  return `${date} ${pad2(Math.floor(seconds / 3600))}:${pad2(Math.floor(seconds / 60) % 60)}:${pad2(seconds % 60)}`;
}

/** Formatting dates by hand, with the date part cached: seeding 200,000 records formats 600,000 of them. */
const DAYS = new Map<number, string>();
const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));

/** A base-system-looking sys_id: 32 lower-case hex characters. */
export function newSysId(): string {
  return randomBytes(16).toString('hex');
}

const SAVE_FORMAT = 1;

/**
 * The simulated instance's data: one TableStore per table, the query engine, and
 * writes with the side effects business rules have on a real instance
 * (sys_* fields, numbering, `active` kept in step with `state`, a
 * sys_audit_delete row per delete).
 */
export class InstanceData {
  readonly tables = new Map<string, TableStore>();
  readonly engine: QueryEngine;
  /** Next number per table prefix (INC0010001…). */
  readonly #numbers = new Map<string, number>();
  readonly #now: () => number;

  constructor(options: QueryEngineOptions, now: () => number = Date.now) {
    for (const def of Object.values(TABLES)) this.tables.set(def.name, new TableStore(def));
    this.engine = new QueryEngine(this.tables, options);
    this.#now = now;
  }

  table(name: string): TableStore | undefined {
    return this.tables.get(name);
  }

  nextNumber(table: TableStore): string {
    const prefix = table.def.numberPrefix!;
    const n = this.#numbers.get(prefix) ?? 10_001;
    this.#numbers.set(prefix, n + 1);
    return `${prefix}${String(n).padStart(7, '0')}`;
  }

  /** A complete record from `values`: unknown fields dropped, missing ones `""`, system fields set. */
  create(table: TableStore, values: Record<string, unknown>, user: string): SnRecord {
    const now = glideDateTime(this.#now());
    const record: SnRecord = {};
    for (const name of Object.keys(table.def.fields)) record[name] = stringValue(values[name]);
    Object.assign(record, {
      sys_id: typeof values.sys_id === 'string' && /^[0-9a-f]{32}$/.test(values.sys_id) && table.get(values.sys_id) === undefined ? values.sys_id : newSysId(),
      sys_created_on: now, sys_created_by: user, sys_updated_on: now, sys_updated_by: user, sys_mod_count: '0',
      sys_class_name: table.def.name, sys_domain: 'global',
    });
    if (table.def.numberPrefix !== undefined && record.number === '') record.number = this.nextNumber(table);
    if ('opened_at' in record && record.opened_at === '') record.opened_at = now;
    const active = activeFor(table.def.name, record.state);
    if (active !== undefined) record.active = active;
    table.insert(record);
    return record;
  }

  /** PUT/PATCH: the given fields change; sys_* fields are not writable. */
  update(table: TableStore, record: SnRecord, values: Record<string, unknown>, user: string): SnRecord {
    const changes: SnRecord = {};
    for (const [name, value] of Object.entries(values)) {
      if (name in table.def.fields && !name.startsWith('sys_')) changes[name] = stringValue(value);
    }
    Object.assign(changes, { sys_updated_on: glideDateTime(this.#now()), sys_updated_by: user, sys_mod_count: String(Number(record.sys_mod_count ?? 0) + 1) });
    const active = activeFor(table.def.name, changes.state ?? record.state);
    if (active !== undefined) changes.active = active;
    table.update(record, changes);
    return record;
  }

  /** Deletes a record and records it in sys_audit_delete, where a sync can learn of it. */
  delete(table: TableStore, record: SnRecord, user: string): void {
    table.delete(record);
    const audit = this.tables.get('sys_audit_delete')!;
    this.create(audit, { tablename: table.def.name, documentkey: record.sys_id, display_value: record[table.def.displayField] }, user);
  }

  /** Writes every table to a JSON file. */
  async save(path: string): Promise<void> {
    const tables = Object.fromEntries([...this.tables].map(([name, t]) => [name, t.byUpdated()]));
    await writeFile(path, JSON.stringify({ format: SAVE_FORMAT, numbers: Object.fromEntries(this.#numbers), tables }));
  }

  /** Replaces the data with a file written by `save()`. */
  async load(path: string): Promise<void> {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as { format?: number; numbers?: Record<string, number>; tables?: Record<string, SnRecord[]> };
    if (parsed.format !== SAVE_FORMAT || typeof parsed.tables !== 'object') throw new Error(`${path} is not a holdfast ServiceNow simulator state file (format ${SAVE_FORMAT})`);
    for (const [name, rows] of Object.entries(parsed.tables)) {
      const table = this.tables.get(name);
      if (table === undefined) throw new Error(`${path}: unknown table "${name}"`);
      for (const row of rows) table.insert(row);
    }
    for (const [prefix, n] of Object.entries(parsed.numbers ?? {})) this.#numbers.set(prefix, n);
  }
}

function stringValue(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'object' && value !== null && 'value' in value) return String((value as { value: unknown }).value);
  return String(value);
}

/** The business rule: a task in a closed state is inactive. Undefined for a table without states. */
function activeFor(table: string, state: string | undefined): string | undefined {
  const inactive = INACTIVE_STATES[table];
  if (inactive === undefined || state === undefined) return undefined;
  return inactive.includes(state) ? 'false' : 'true';
}
