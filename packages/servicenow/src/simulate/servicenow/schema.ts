import { z } from 'zod';
import { InvalidOptionError } from 'holdfast/internal/errors.js';
import { TABLES, TASK_FIELDS, type FieldDef, type SnRecord, type TableDef } from './tables.js';

/** Custom names on an instance: `u_…` (global) or `x_<scope>_…` (a scoped app). */
const CUSTOM = /^(u|x_[a-z0-9]+)_[a-z0-9_]+$/;
const customName = (what: string) => z.string().regex(CUSTOM, `a custom ${what} is named u_… or x_<scope>_…`);

const fieldSpec = z.union([
  z.enum(['string', 'integer', 'boolean', 'datetime', 'journal']),
  z.strictObject({
    type: z.enum(['string', 'integer', 'boolean', 'datetime', 'journal', 'reference']),
    reference: z.string().optional(),
    /** value → label */
    choices: z.record(z.string(), z.string()).optional(),
    default: z.string().optional(),
    label: z.string().optional(),
  }),
]);

/**
 * Extra tables and `u_*` fields, declared in the simulator's config as on an instance's
 * dictionary (issue 17). Each gets its sys_dictionary rows.
 *
 * @example
 * schema:
 *   fields: { incident: { u_vendor_ticket: string, u_site: { type: reference, reference: u_site } } }
 *   tables: [{ name: u_site, fields: { u_name: string, u_code: string }, displayField: u_name }]
 */
export const schemaSchema = z.strictObject({
  tables: z.array(z.strictObject({
    name: customName('table'),
    label: z.string().optional(),
    /** `task`, or another table: its fields come first. */
    extends: z.string().optional(),
    numberPrefix: z.string().regex(/^[A-Z]{2,8}$/, 'expected 2 to 8 capital letters').optional(),
    displayField: z.string().optional(),
    fields: z.record(customName('field'), fieldSpec).default({}),
  })).default([]),
  fields: z.record(z.string(), z.record(customName('field'), fieldSpec)).default({}),
});

export type SchemaOptions = z.output<typeof schemaSchema>;
type FieldSpec = z.output<typeof fieldSpec>;

function fieldDef(spec: FieldSpec): FieldDef {
  if (typeof spec === 'string') return { type: spec };
  const { label: _label, ...def } = spec;
  return def;
}

/** The base tables with the configured extras; throws InvalidOptionError naming the bad entry. */
export function buildTables(schema: SchemaOptions): Record<string, TableDef> {
  const tables: Record<string, TableDef> = { ...TABLES };
  schema.tables.forEach((t, i) => {
    if (tables[t.name] !== undefined) throw new InvalidOptionError(`schema.tables.${i}.name`, `table ${t.name} is declared twice`);
    const parent = t.extends === undefined ? undefined : t.extends === 'task' ? { fields: TASK_FIELDS } : tables[t.extends];
    if (t.extends !== undefined && parent === undefined) throw new InvalidOptionError(`schema.tables.${i}.extends`, `unknown table ${t.extends}`);
    const fields = { ...(parent?.fields ?? TABLES.sys_user_group!.fields), ...Object.fromEntries(Object.entries(t.fields).map(([n, f]) => [n, fieldDef(f)])) };
    const displayField = t.displayField ?? (t.numberPrefix !== undefined ? 'number' : Object.keys(t.fields)[0] ?? 'sys_id');
    if (!(displayField in fields)) throw new InvalidOptionError(`schema.tables.${i}.displayField`, `${t.name} has no field ${displayField}`);
    tables[t.name] = {
      name: t.name, displayField, fields,
      ...(t.label === undefined ? {} : { label: t.label }),
      ...(t.extends === undefined ? {} : { extends: t.extends }),
      ...(t.numberPrefix === undefined ? {} : { numberPrefix: t.numberPrefix }),
    };
  });
  for (const [table, extra] of Object.entries(schema.fields)) {
    const def = tables[table];
    if (def === undefined) throw new InvalidOptionError(`schema.fields.${table}`, `unknown table ${table}`);
    tables[table] = { ...def, fields: { ...def.fields, ...Object.fromEntries(Object.entries(extra).map(([n, f]) => [n, fieldDef(f)])) } };
  }
  for (const def of Object.values(tables)) {
    for (const [name, f] of Object.entries(def.fields)) {
      if (f.type === 'reference' && (f.reference === undefined || tables[f.reference] === undefined)) {
        throw new InvalidOptionError(`schema.fields.${def.name}.${name}.reference`, `a reference needs an existing table, got ${f.reference ?? 'none'}`);
      }
    }
  }
  return tables;
}

const label = (name: string) => name.replace(/^(u|x_[a-z0-9]+)_/, '').split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join(' ');
const INTERNAL_TYPE: Record<FieldDef['type'], string> = { string: 'string', integer: 'integer', boolean: 'boolean', datetime: 'glide_date_time', reference: 'reference', journal: 'journal' };

/** sys_dictionary rows, as an instance keeps them: one per table (`element` empty, type `collection`) and one per field. */
export function dictionaryRows(tables: Readonly<Record<string, TableDef>>): Record<string, string>[] {
  const rows: SnRecord[] = [];
  for (const def of Object.values(tables)) {
    rows.push({ name: def.name, element: '', column_label: def.label ?? label(def.name), internal_type: 'collection', reference: '', default_value: '', active: 'true' });
    for (const [element, f] of Object.entries(def.fields)) {
      const type = f.choices !== undefined && f.type === 'integer' ? 'integer' : INTERNAL_TYPE[f.type];
      rows.push({ name: def.name, element, column_label: label(element), internal_type: type, reference: f.reference ?? '', default_value: f.default ?? '', active: 'true' });
    }
  }
  return rows;
}
