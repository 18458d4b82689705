import type { QueryEngine } from './query-engine.js';
import type { TableStore } from './table-store.js';
import type { FieldDef, SnRecord } from './tables.js';

export type DisplayValue = 'false' | 'true' | 'all';

export interface RenderOptions {
  /** `sysparm_fields`, already split; undefined for every field. */
  fields: string[] | undefined;
  display: DisplayValue;
  excludeReferenceLink: boolean;
  /** `https://instance` as the caller reached it, for reference links. */
  baseUrl: string;
  /** A journal field's entries as text (its display value). */
  journal?: (sysId: string, element: string) => string;
}

type Cell = (record: SnRecord) => unknown;

/**
 * Renders records as the Table API does (see the matrix in docs/guides/simulator.md):
 * every value a string; an empty reference `""` in every mode; a reference as
 * `{link, value}`, its display value or `{display_value, link, value}`; a choice
 * as its code, its label or both. Dot-walked fields keep their dotted key.
 * The plan is built once per request, then applied to each row.
 */
export class RecordRenderer {
  readonly #cells: [string, Cell][];
  /** Every field, raw, no links: the stored record is already the answer, so it is serialised as is. */
  readonly #identity: boolean;

  constructor(engine: QueryEngine, tables: ReadonlyMap<string, TableStore>, table: TableStore, options: RenderOptions) {
    const names = options.fields ?? Object.keys(table.def.fields);
    this.#identity = options.fields === undefined && options.display === 'false'
      && (options.excludeReferenceLink || Object.values(table.def.fields).every((f) => f.type !== 'reference'));
    // (A journal field's stored value is "", which is also its raw value: identity holds for it.)
    this.#cells = [];
    for (const name of names) {
      const field = engine.field(table, name);
      if (field !== undefined) this.#cells.push([name, field.def.type === 'journal' ? journalCell(name, options) : cell(field.get, field.def, tables, options)]);
    }
  }

  /** Fields that `sysparm_fields` named but the table lacks (ignored, as on a real instance). */
  static unknownFields(engine: QueryEngine, table: TableStore, fields: string[]): string[] {
    return fields.filter((name) => engine.field(table, name) === undefined);
  }

  render(record: SnRecord): Record<string, unknown> {
    if (this.#identity) return record;
    const out: Record<string, unknown> = {};
    for (const [name, get] of this.#cells) out[name] = get(record);
    return out;
  }
}

function cell(get: (r: SnRecord) => string, def: FieldDef, tables: ReadonlyMap<string, TableStore>, { display, excludeReferenceLink, baseUrl }: RenderOptions): Cell {
  if (def.type === 'reference') {
    const target = tables.get(def.reference!)!;
    const link = (value: string) => `${baseUrl}/api/now/table/${target.def.name}/${value}`;
    const shown = (value: string) => target.get(value)?.[target.def.displayField] ?? '';
    const render = referenceCell(display, excludeReferenceLink, link, shown);
    return (r) => {
      const value = get(r);
      return value === '' ? '' : render(value);
    };
  }
  if (display === 'false') return get;
  const label = def.choices === undefined ? (v: string) => v : (v: string) => def.choices![v] ?? v;
  if (display === 'true') return (r) => label(get(r));
  return (r) => {
    const value = get(r);
    return { display_value: label(value), value };
  };
}

/** A journal field: "" as a value (the entries live in sys_journal_field), the entries, newest first, as its display value. */
function journalCell(element: string, { display, journal }: RenderOptions): Cell {
  const text = (r: SnRecord) => journal?.(r.sys_id ?? '', element) ?? '';
  switch (display) {
    case 'false': return () => '';
    case 'true': return text;
    case 'all': return (r) => ({ display_value: text(r), value: '' });
  }
}

function referenceCell(display: DisplayValue, noLink: boolean, link: (v: string) => string, shown: (v: string) => string): (value: string) => unknown {
  switch (display) {
    case 'false': return noLink ? (value) => value : (value) => ({ link: link(value), value });
    case 'true': return noLink ? shown : (value) => ({ display_value: shown(value), link: link(value) });
    case 'all': return noLink ? (value) => ({ display_value: shown(value), value }) : (value) => ({ display_value: shown(value), link: link(value), value });
  }
}
