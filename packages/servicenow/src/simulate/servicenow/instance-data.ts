import { readFile, writeFile } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { QueryEngine, type QueryEngineOptions } from './query-engine.js';
import { TableStore } from './table-store.js';
import { dictionaryRows } from './schema.js';
import { INACTIVE_STATES, TABLES, type FieldDef, type SnRecord, type TableDef } from './tables.js';

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
const DICTIONARY_TIME = '2020-01-01 00:00:00';

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
  /** Attachment contents by the sys_attachment row's sys_id. */
  readonly #attachments = new Map<string, Buffer>();
  /** `sys_id \t element` → its journal entries, oldest first. */
  readonly #journal = new Map<string, SnRecord[]>();

  constructor(options: QueryEngineOptions, now: () => number = Date.now, defs: Readonly<Record<string, TableDef>> = TABLES) {
    for (const def of Object.values(defs)) this.tables.set(def.name, new TableStore(def));
    this.engine = new QueryEngine(this.tables, options);
    this.#now = now;
    // The dictionary is the schema's: the same rows, sys_ids and times on every start.
    const dictionary = this.tables.get('sys_dictionary')!;
    for (const row of dictionaryRows(defs)) {
      const sysId = createHash('sha256').update(`${row.name}.${row.element}`).digest('hex').slice(0, 32);
      dictionary.insert({ ...row, sys_id: sysId, sys_created_on: DICTIONARY_TIME, sys_created_by: 'system', sys_updated_on: DICTIONARY_TIME, sys_updated_by: 'system', sys_mod_count: '0', sys_class_name: 'sys_dictionary', sys_domain: 'global' });
    }
  }

  /** A row the instance itself writes (the dictionary, journal entries): system fields set, nothing else derived. */
  #insertSystem(table: TableStore, values: SnRecord, user: string): SnRecord {
    const now = glideDateTime(this.#now());
    const record: SnRecord = { ...values, sys_id: newSysId(), sys_created_on: now, sys_created_by: user, sys_updated_on: now, sys_updated_by: user, sys_mod_count: '0', sys_class_name: table.def.name, sys_domain: 'global' };
    table.insert(record);
    return record;
  }

  /**
   * A value as stored, from a value that may be a display value (`sysparm_input_display_value=true`,
   * or a name=value filter): a choice's label becomes its code, a reference's display value
   * (a group's name) its sys_id. Anything else is kept as given.
   */
  storedValue(def: FieldDef | undefined, value: string): string {
    if (def === undefined || value === '') return value;
    if (def.choices !== undefined && !(value in def.choices)) {
      const folded = value.toLowerCase();
      const code = Object.entries(def.choices).find(([, label]) => label.toLowerCase() === folded)?.[0];
      return code ?? value;
    }
    if (def.type === 'reference') {
      const target = this.tables.get(def.reference!);
      if (target === undefined || target.get(value) !== undefined) return value;
      const folded = value.toLowerCase();
      const match = target.byUpdated().find((r) => (r[target.def.displayField] ?? '').toLowerCase() === folded);
      return match?.sys_id ?? value;
    }
    return value;
  }

  /** A stored value as the instance displays it: a choice's label, a reference's display field. */
  displayValue(table: TableStore, field: string, value: string): string {
    const def = table.def.fields[field];
    if (def === undefined || value === '') return value;
    if (def.choices !== undefined) return def.choices[value] ?? value;
    if (def.type === 'reference') {
      const target = this.tables.get(def.reference!);
      return target?.get(value)?.[target.def.displayField] ?? value;
    }
    return value;
  }

  /** A journal field's entries for display, newest first, as the instance renders them. */
  journalText(sysId: string, element: string): string {
    const entries = this.#journal.get(`${sysId}\t${element}`) ?? [];
    const kind = element === 'work_notes' ? 'Work notes' : element === 'comments' ? 'Additional comments' : element;
    return entries.slice().reverse().map((e) => `${e.sys_created_on} - ${e.sys_created_by} (${kind})\n${e.value}\n\n`).join('');
  }

  /** Journal values of a write go to sys_journal_field; the other fields, converted from display values when asked, are returned. */
  #writable(table: TableStore, values: Record<string, unknown>, displayValues: boolean): { fields: SnRecord; journal: [string, string][] } {
    const fields: SnRecord = {};
    const journal: [string, string][] = [];
    for (const [name, raw] of Object.entries(values)) {
      const def = table.def.fields[name];
      if (def === undefined) continue; // unknown fields are dropped, as an instance drops them
      const value = stringValue(raw);
      if (def.type === 'journal') {
        if (value !== '') journal.push([name, value]);
        continue;
      }
      fields[name] = displayValues ? this.storedValue(def, value) : value;
    }
    return { fields, journal };
  }

  #appendJournal(table: TableStore, record: SnRecord, entries: [string, string][], user: string): void {
    const journal = this.tables.get('sys_journal_field')!;
    for (const [element, value] of entries) {
      const entry = this.#insertSystem(journal, { element_id: record.sys_id!, element, name: table.def.name, value }, user);
      const key = `${record.sys_id}\t${element}`;
      this.#journal.set(key, [...(this.#journal.get(key) ?? []), entry]);
    }
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

  /**
   * A complete record from `values`: unknown fields dropped, missing ones their dictionary
   * default or `""`, system fields set, `opened_by` the caller, journal fields appended.
   */
  create(table: TableStore, values: Record<string, unknown>, user: string, { displayValues = false }: { displayValues?: boolean } = {}): SnRecord {
    const now = glideDateTime(this.#now());
    const { fields, journal } = this.#writable(table, values, displayValues);
    const record: SnRecord = {};
    for (const [name, def] of Object.entries(table.def.fields)) record[name] = fields[name] ?? (def.type === 'journal' ? '' : def.default ?? '');
    Object.assign(record, {
      sys_id: typeof values.sys_id === 'string' && /^[0-9a-f]{32}$/.test(values.sys_id) && table.get(values.sys_id) === undefined ? values.sys_id : newSysId(),
      sys_created_on: now, sys_created_by: user, sys_updated_on: now, sys_updated_by: user, sys_mod_count: '0',
      sys_class_name: table.def.name, sys_domain: 'global',
    });
    if (table.def.numberPrefix !== undefined && record.number === '') record.number = this.nextNumber(table);
    if ('opened_at' in record && record.opened_at === '') record.opened_at = now;
    if ('opened_by' in record && record.opened_by === '') record.opened_by = this.#userId(user);
    const active = activeFor(table.def.name, record.state);
    if (active !== undefined) record.active = active;
    table.insert(record);
    this.#appendJournal(table, record, journal, user);
    return record;
  }

  /** The sys_user sys_id of a user name, or '' when the instance has no such user record. */
  #userId(userName: string): string {
    return this.tables.get('sys_user')?.byUpdated().find((u) => u.user_name === userName)?.sys_id ?? '';
  }

  /** PUT/PATCH: the given fields change; sys_* fields are not writable; journal values are appended. */
  update(table: TableStore, record: SnRecord, values: Record<string, unknown>, user: string, { displayValues = false }: { displayValues?: boolean } = {}): SnRecord {
    const { fields, journal } = this.#writable(table, values, displayValues);
    const changes: SnRecord = {};
    for (const [name, value] of Object.entries(fields)) if (!name.startsWith('sys_')) changes[name] = value;
    Object.assign(changes, { sys_updated_on: glideDateTime(this.#now()), sys_updated_by: user, sys_mod_count: String(Number(record.sys_mod_count ?? 0) + 1) });
    const active = activeFor(table.def.name, changes.state ?? record.state);
    if (active !== undefined) changes.active = active;
    table.update(record, changes);
    this.#appendJournal(table, record, journal, user);
    return record;
  }

  /** Stores an attachment: its metadata row in sys_attachment and its bytes. */
  createAttachment(meta: SnRecord, bytes: Buffer, user: string): SnRecord {
    const row = this.#insertSystem(this.tables.get('sys_attachment')!, meta, user);
    this.#attachments.set(row.sys_id!, bytes);
    return row;
  }

  attachmentContent(sysId: string): Buffer | undefined {
    return this.#attachments.get(sysId);
  }

  deleteAttachment(sysId: string): void {
    const table = this.tables.get('sys_attachment')!;
    const row = table.get(sysId);
    if (row !== undefined) table.delete(row);
    this.#attachments.delete(sysId);
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
    const attachments = Object.fromEntries([...this.#attachments].map(([id, bytes]) => [id, bytes.toString('base64')]));
    await writeFile(path, JSON.stringify({ format: SAVE_FORMAT, numbers: Object.fromEntries(this.#numbers), tables, attachments }));
  }

  /** Replaces the data with a file written by `save()`. */
  async load(path: string): Promise<void> {
    const parsed = JSON.parse(await readFile(path, 'utf8')) as { format?: number; numbers?: Record<string, number>; tables?: Record<string, SnRecord[]>; attachments?: Record<string, string> };
    if (parsed.format !== SAVE_FORMAT || typeof parsed.tables !== 'object') throw new Error(`${path} is not a holdfast ServiceNow simulator state file (format ${SAVE_FORMAT})`);
    for (const [name, rows] of Object.entries(parsed.tables)) {
      if (name === 'sys_dictionary') continue; // built from the schema at start
      const table = this.tables.get(name);
      if (table === undefined) throw new Error(`${path}: unknown table "${name}"`);
      for (const row of rows) table.insert(row);
    }
    for (const [prefix, n] of Object.entries(parsed.numbers ?? {})) this.#numbers.set(prefix, n);
    for (const [id, base64] of Object.entries(parsed.attachments ?? {})) this.#attachments.set(id, Buffer.from(base64, 'base64'));
    for (const entry of this.tables.get('sys_journal_field')!.byUpdated()) {
      const key = `${entry.element_id}\t${entry.element}`;
      this.#journal.set(key, [...(this.#journal.get(key) ?? []), entry]);
    }
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
