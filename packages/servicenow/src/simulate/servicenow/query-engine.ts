import { parseEncodedQuery, type Condition, type ParsedQuery, type Group } from '../../servicenow/encoded-query.js';
import { TableStore } from './table-store.js';
import type { FieldDef, SnRecord } from './tables.js';

/** A field named in a query or in `sysparm_fields` that the table does not have (only thrown in strict mode). */
export class UnknownFieldError extends Error {
  readonly field: string;

  constructor(table: string, field: string) {
    super(`Invalid field ${field} on table ${table}`);
    this.field = field;
  }
}

export interface QueryEngineOptions {
  /** Compare text case-sensitively (ServiceNow's docs say so; instances on a case-insensitive collation do not). */
  caseSensitive: boolean;
  /** Reject unknown fields instead of ignoring them (glide.invalid_query.returns_no_rows, made an error). */
  strict: boolean;
}

type Getter = (record: SnRecord) => string;
type Predicate = (record: SnRecord) => boolean;

const CACHE_SIZE = 32;

/**
 * Runs encoded queries against the tables. Each `^NQ` group picks its cheapest
 * index (a sys_updated_on range, or an indexed field's `=`/`IN`); results are
 * cached per (table, query) until the table changes, so paging one result set
 * costs a slice per page.
 */
export class QueryEngine {
  readonly #tables: ReadonlyMap<string, TableStore>;
  readonly #options: QueryEngineOptions;
  readonly #cache = new Map<string, { version: number; rows: SnRecord[] }>();

  constructor(tables: ReadonlyMap<string, TableStore>, options: QueryEngineOptions) {
    this.#tables = tables;
    this.#options = options;
  }

  /** A getter for a field or a dot-walked path, with the final field's definition; undefined when unknown. */
  field(table: TableStore, path: string): { get: Getter; def: FieldDef } | undefined {
    const parts = path.split('.');
    const first = parts[0]!;
    const start: FieldDef | undefined = table.def.fields[first];
    if (start === undefined) return undefined;
    let def: FieldDef = start;
    let get: Getter = (r) => r[first] ?? '';
    for (const part of parts.slice(1)) {
      const target: TableStore | undefined = def.reference === undefined ? undefined : this.#tables.get(def.reference);
      const next: FieldDef | undefined = target?.def.fields[part];
      if (target === undefined || next === undefined) return undefined;
      const outer = get;
      get = (r) => target.get(outer(r))?.[part] ?? '';
      def = next;
    }
    return { get, def };
  }

  /** The rows matching `query`, in its order (all of them: the caller pages). */
  run(table: TableStore, query: string): SnRecord[] {
    const key = `${table.def.name}\u0000${query}`;
    const cached = this.#cache.get(key);
    if (cached !== undefined && cached.version === table.version) {
      this.#cache.delete(key);
      this.#cache.set(key, cached);
      return cached.rows;
    }
    const rows = this.#execute(table, parseEncodedQuery(query));
    this.#cache.set(key, { version: table.version, rows });
    if (this.#cache.size > CACHE_SIZE) this.#cache.delete(this.#cache.keys().next().value!);
    return rows;
  }

  #execute(table: TableStore, parsed: ParsedQuery): SnRecord[] {
    if (this.#options.strict && parsed.invalid.length > 0) throw new UnknownFieldError(table.def.name, parsed.invalid[0]!);
    const groups = parsed.groups.map((group) => this.#compileGroup(table, group));
    const { rows: candidates, sortedByUpdated } = this.#candidates(table, parsed.groups);
    const predicate: Predicate | undefined = groups.length === 0 ? undefined : groups.length === 1 ? groups[0]! : (r) => groups.some((g) => g(r));
    const rows = predicate === undefined ? [...candidates] : candidates.filter(predicate);
    const order = parsed.orderBy.flatMap(({ field, desc }) => {
      const resolved = this.field(table, field);
      if (resolved === undefined) {
        if (this.#options.strict) throw new UnknownFieldError(table.def.name, field);
        return [];
      }
      return [{ ...resolved, desc, name: field }];
    });
    const alreadySorted = sortedByUpdated && order.length > 0 && order[0]!.name === 'sys_updated_on' && !order[0]!.desc
      && (order.length === 1 || (order.length === 2 && order[1]!.name === 'sys_id' && !order[1]!.desc));
    if (order.length > 0 && !alreadySorted) {
      rows.sort((a, b) => {
        for (const { get, def, desc } of order) {
          const c = compareValues(get(a), get(b), def);
          if (c !== 0) return desc ? -c : c;
        }
        return 0;
      });
    }
    return rows;
  }

  /** The smallest set of rows that can match, from the indexes. */
  #candidates(table: TableStore, groups: Group[]): { rows: readonly SnRecord[]; sortedByUpdated: boolean } {
    const all = table.byUpdated();
    if (groups.length === 0) return { rows: all, sortedByUpdated: true };
    const picks = groups.map((group) => this.#bestIndex(table, group));
    if (picks.length === 1 || picks.some((p) => p === undefined)) {
      const pick = picks.length === 1 ? picks[0] : undefined;
      if (pick === undefined) return { rows: all, sortedByUpdated: true };
      return { rows: Array.isArray(pick) ? pick : [...pick], sortedByUpdated: Array.isArray(pick) };
    }
    const union = new Set<SnRecord>();
    for (const pick of picks) for (const r of pick!) union.add(r);
    return { rows: [...union], sortedByUpdated: false };
  }

  #bestIndex(table: TableStore, group: Group): readonly SnRecord[] | ReadonlySet<SnRecord> | undefined {
    let best: readonly SnRecord[] | ReadonlySet<SnRecord> | undefined;
    const size = (c: readonly SnRecord[] | ReadonlySet<SnRecord>) => (Array.isArray(c) ? c.length : (c as ReadonlySet<SnRecord>).size);
    for (const clause of group) {
      if (clause.length !== 1) continue;
      const candidate = indexFor(table, clause[0]!, this.#options.caseSensitive);
      if (candidate !== undefined && (best === undefined || size(candidate) < size(best))) best = candidate;
    }
    return best;
  }

  #compileGroup(table: TableStore, group: Group): Predicate {
    const clauses = group.map((clause) => {
      const conditions = clause.map((c) => this.#compile(table, c)).filter((p): p is Predicate => p !== undefined);
      return conditions.length === 1 ? conditions[0]! : conditions.length === 0 ? undefined : (r: SnRecord) => conditions.some((p) => p(r));
    }).filter((p): p is Predicate => p !== undefined);
    return (r) => clauses.every((p) => p(r));
  }

  /** A condition's predicate; undefined (ignored, as on a real instance) when its field is unknown. */
  #compile(table: TableStore, { field, op, value }: Condition): Predicate | undefined {
    const resolved = this.field(table, field);
    if (resolved === undefined) {
      if (this.#options.strict) throw new UnknownFieldError(table.def.name, field);
      return undefined;
    }
    const { get, def } = resolved;
    const fold = this.#options.caseSensitive ? (s: string) => s : (s: string) => s.toLowerCase();
    const want = fold(value);
    const list = () => new Set(value.split(',').map((v) => fold(v.trim())));
    switch (op) {
      case '=': return (r) => fold(get(r)) === want;
      case '!=': return (r) => fold(get(r)) !== want;
      case '<': return (r) => compareValues(get(r), value, def) < 0;
      case '<=': return (r) => compareValues(get(r), value, def) <= 0;
      case '>': return (r) => compareValues(get(r), value, def) > 0;
      case '>=': return (r) => compareValues(get(r), value, def) >= 0;
      case 'IN': { const set = list(); return (r) => set.has(fold(get(r))); }
      case 'NOT IN': { const set = list(); return (r) => !set.has(fold(get(r))); }
      case 'LIKE': return (r) => fold(get(r)).includes(want);
      case 'NOT LIKE': return (r) => !fold(get(r)).includes(want);
      case 'STARTSWITH': return (r) => fold(get(r)).startsWith(want);
      case 'ENDSWITH': return (r) => fold(get(r)).endsWith(want);
      case 'ISEMPTY':
      case 'EMPTYSTRING': return (r) => get(r) === '';
      case 'ISNOTEMPTY': return (r) => get(r) !== '';
      case 'ANYTHING': return () => true;
      case 'BETWEEN': {
        const [low = '', high = ''] = value.split('@');
        return (r) => { const v = get(r); return compareValues(v, low, def) >= 0 && compareValues(v, high, def) <= 0; };
      }
      case 'INSTANCEOF': {
        // The classes `value` names: itself and every table that extends it, transitively.
        const classes = new Set([fold(value)]);
        for (let grew = true; grew;) {
          grew = false;
          for (const t of this.#tables.values()) {
            if (t.def.extends !== undefined && classes.has(fold(t.def.extends)) && !classes.has(fold(t.def.name))) { classes.add(fold(t.def.name)); grew = true; }
          }
        }
        return (r) => classes.has(fold(get(r)));
      }
    }
  }
}

/** Rows an index can give for one condition, or undefined when none applies. */
function indexFor(table: TableStore, { field, op, value: raw }: Condition, caseSensitive: boolean): readonly SnRecord[] | ReadonlySet<SnRecord> | undefined {
  // Indexed values (states, flags, sys_ids, date-times) have no upper case.
  const value = caseSensitive ? raw : raw.toLowerCase();
  if (field === 'sys_updated_on') {
    const sorted = table.byUpdated();
    switch (op) {
      case '>': return sorted.slice(table.updatedBound(value, true));
      case '>=': return sorted.slice(table.updatedBound(value, false));
      case '<': return sorted.slice(0, table.updatedBound(value, false));
      case '<=': return sorted.slice(0, table.updatedBound(value, true));
      case 'BETWEEN': {
        const [low = '', high = ''] = value.split('@');
        return sorted.slice(table.updatedBound(low, false), table.updatedBound(high, true));
      }
      default: return undefined;
    }
  }
  if (!table.hasIndex(field)) return undefined;
  if (op === '=') return table.indexed(field, value);
  if (op === 'IN') {
    const union = new Set<SnRecord>();
    for (const v of value.split(',')) for (const r of table.indexed(field, v.trim())!) union.add(r);
    return union;
  }
  return undefined;
}

/** Integers compare as numbers, everything else as strings (date-times sort as text). Empty sorts first. */
export function compareValues(a: string, b: string, def: FieldDef): number {
  if (def.type === 'integer' && a !== '' && b !== '') {
    const d = Number(a) - Number(b);
    if (!Number.isNaN(d)) return d;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}
