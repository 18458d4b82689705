import type { InstanceData } from './instance-data.js';
import { compareValues, UnknownFieldError } from './query-engine.js';
import { failure, type ApiAnswer, type Query } from './table-api.js';
import type { TableStore } from './table-store.js';
import type { SnRecord } from './tables.js';

const AGGREGATES = ['sum', 'avg', 'min', 'max'] as const;
type Aggregate = (typeof AGGREGATES)[number];
type Stats = { count?: string } & Partial<Record<Aggregate, Record<string, string>>>;

const list = (value: string | undefined) => (value ?? '').split(',').map((f) => f.trim()).filter((f) => f !== '');

/**
 * The Aggregate API, `GET /api/now/stats/{table}` (c_AggregateAPI): `sysparm_count`,
 * `sysparm_<sum|avg|min|max>_fields`, `sysparm_group_by` and `sysparm_having`
 * (`aggregate^field^operator^value`, comma-separated), over `sysparm_query` or name=value
 * pairs. Every number is a string, as the instance sends it. Without a group-by the result
 * is one `{ stats }`; with one, a list of `{ stats, groupby_fields }`.
 */
export function aggregateAnswer(data: InstanceData, table: TableStore, query: Query, encodedQuery: string): ApiAnswer {
  let rows: readonly SnRecord[];
  try {
    rows = data.engine.run(table, encodedQuery);
  } catch (err) {
    if (err instanceof UnknownFieldError) return failure(400, 'Invalid query', err.message);
    throw err;
  }
  const fields = Object.fromEntries(AGGREGATES.map((a) => [a, list(query[`sysparm_${a}_fields`])])) as Record<Aggregate, string[]>;
  const count = query.sysparm_count === 'true';
  const groupBy = list(query.sysparm_group_by);
  for (const name of [...groupBy, ...Object.values(fields).flat()]) {
    if (table.def.fields[name] === undefined) return failure(400, 'Invalid field', `Table ${table.def.name} has no field ${name}`);
  }
  const having = parseHaving(query.sysparm_having, table);
  if (having instanceof Error) return failure(400, 'Invalid sysparm_having', having.message);
  const stats = (group: readonly SnRecord[]) => statsOf(table, group, count || having.some((h) => h.aggregate === 'count'), fields);
  if (groupBy.length === 0) return { status: 200, headers: {}, body: { result: { stats: stats(rows) } }, rows: rows.length };

  const groups = new Map<string, SnRecord[]>();
  for (const r of rows) {
    const key = groupBy.map((f) => r[f] ?? '').join('\u0000');
    let group = groups.get(key);
    if (group === undefined) groups.set(key, group = []);
    group.push(r);
  }
  const display = query.sysparm_display_value === 'true' || query.sysparm_display_value === 'all';
  const result = [...groups.values()]
    .filter((group) => having.every((h) => h.holds(group)))
    .map((group) => ({
      stats: stats(group),
      groupby_fields: groupBy.map((f) => ({ field: f, value: display ? data.displayValue(table, f, group[0]![f] ?? '') : group[0]![f] ?? '' })),
    }));
  return { status: 200, headers: {}, body: { result }, rows: rows.length };
}

function statsOf(table: TableStore, rows: readonly SnRecord[], count: boolean, fields: Record<Aggregate, string[]>): Stats {
  const stats: Stats = {};
  if (count) stats.count = String(rows.length);
  for (const aggregate of AGGREGATES) {
    if (fields[aggregate].length === 0) continue;
    stats[aggregate] = Object.fromEntries(fields[aggregate].map((f) => [f, compute(aggregate, rows.map((r) => r[f] ?? ''), table, f)]));
  }
  return stats;
}

function compute(aggregate: Aggregate, values: string[], table: TableStore, field: string): string {
  if (aggregate === 'min' || aggregate === 'max') {
    const present = values.filter((v) => v !== '');
    if (present.length === 0) return '';
    const def = table.def.fields[field]!;
    return present.reduce((best, v) => ((aggregate === 'min' ? compareValues(v, best, def) < 0 : compareValues(v, best, def) > 0) ? v : best));
  }
  const numbers = values.filter((v) => v !== '').map(Number).filter(Number.isFinite); // an empty value is no number, not 0
  const sum = numbers.reduce((a, b) => a + b, 0);
  if (aggregate === 'sum') return String(sum);
  return numbers.length === 0 ? '' : String(sum / numbers.length);
}

interface Having { aggregate: 'count' | Aggregate; holds(rows: readonly SnRecord[]): boolean }

/** `count^priority^>^3,avg^priority^<^2`: each must hold for a group to be listed; the aggregates are compute()'s. */
function parseHaving(value: string | undefined, table: TableStore): Having[] | Error {
  const out: Having[] = [];
  for (const part of list(value)) {
    const [aggregate, field, op, bound] = part.split('^');
    if (!(aggregate === 'count' || (AGGREGATES as readonly string[]).includes(aggregate ?? '')) || field === undefined || bound === undefined || !['=', '!=', '>', '>=', '<', '<='].includes(op ?? '')) {
      return new Error(`"${part}" is not aggregate^field^operator^value`);
    }
    if (aggregate !== 'count' && table.def.fields[field] === undefined) return new Error(`"${part}": table ${table.def.name} has no field ${field}`);
    const n = Number(bound);
    const test = (x: number) => ({ '=': x === n, '!=': x !== n, '>': x > n, '>=': x >= n, '<': x < n, '<=': x <= n })[op as '='];
    out.push({
      aggregate: aggregate as Having['aggregate'],
      holds: (rows) => {
        if (aggregate === 'count') return test(rows.length);
        const x = compute(aggregate as Aggregate, rows.map((r) => r[field] ?? ''), table, field);
        return x !== '' && test(Number(x)); // no value in the group: no aggregate to compare
      },
    });
  }
  return out;
}
