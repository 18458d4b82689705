import { InvalidOptionError } from '../errors.js';

/** Operators of an encoded query condition that take one value. */
export type ValueOperator = '=' | '!=' | '>' | '>=' | '<' | '<=' | 'LIKE' | 'NOTLIKE' | 'STARTSWITH' | 'ENDSWITH';
/** Operators that take a list of values. */
export type ListOperator = 'IN' | 'NOT IN';
/** Operators that take no value. */
export type EmptyOperator = 'ISEMPTY' | 'ISNOTEMPTY';

const FIELD = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*$/;

function field(name: string): string {
  if (!FIELD.test(name)) throw new InvalidOptionError('query.field', `"${name}" is not a field name (lower-case letters, digits, _ and dot-walks)`);
  return name;
}

/**
 * A value in an encoded query: `^` separates conditions and `,` separates IN values,
 * and ServiceNow has no escape for them that every release honours, so they are refused
 * rather than sent to match something else.
 */
function value(v: string, list = false): string {
  if (v.includes('^') || (list && v.includes(','))) {
    throw new InvalidOptionError('query.value', `"${v}" contains ${v.includes('^') ? '^' : ','}, which an encoded query cannot carry`);
  }
  return v;
}

/**
 * A typed builder of ServiceNow encoded queries (`sysparm_query`), one immutable
 * step at a time. `F` is the union of the table's field names.
 *
 *   and → `^`   or → `^OR` (binds to the previous condition)   newQuery → `^NQ`
 *
 * Send `toString()` as one URL parameter: `URLSearchParams` percent-encodes `^`, `=` and
 * spaces, as the Table API needs (research/servicenow.md §8.2).
 *
 * @example
 * const q = new EncodedQuery<'active' | 'state' | 'hold_reason'>()
 *   .where('active', '=', 'true').where('state', '=', '3').in('hold_reason', ['1', '3', '4', '5'])
 *   .orderBy('sys_updated_on');
 * q.toString(); // 'active=true^state=3^hold_reasonIN1,3,4,5^ORDERBYsys_updated_on'
 */
export class EncodedQuery<F extends string = string> {
  readonly #groups: readonly (readonly string[])[];
  readonly #order: readonly string[];

  constructor(groups: readonly (readonly string[])[] = [[]], order: readonly string[] = []) {
    this.#groups = groups;
    this.#order = order;
  }

  #add(condition: string, joiner = '^'): EncodedQuery<F> {
    const groups = this.#groups.slice();
    const last = groups[groups.length - 1]!;
    if (joiner === '^OR' && last.length === 0) throw new InvalidOptionError('query.or', 'or() needs a condition before it');
    groups[groups.length - 1] = joiner === '^OR' ? [...last.slice(0, -1), `${last[last.length - 1]!}^OR${condition}`] : [...last, condition];
    return new EncodedQuery<F>(groups, this.#order);
  }

  /** ANDs `field op value`. */
  where(name: F | 'sys_id' | 'sys_updated_on' | 'sys_created_on', op: ValueOperator, v: string): EncodedQuery<F> {
    return this.#add(`${field(name)}${op}${value(v)}`);
  }

  /** ORs `field op value` with the condition before it. */
  or(name: F | 'sys_id' | 'sys_updated_on', op: ValueOperator, v: string): EncodedQuery<F> {
    return this.#add(`${field(name)}${op}${value(v)}`, '^OR');
  }

  /** ANDs `field IN (values)`, or `NOT IN`. */
  in(name: F | 'sys_id', values: readonly string[], op: ListOperator = 'IN'): EncodedQuery<F> {
    if (values.length === 0) throw new InvalidOptionError('query.in', `${name} ${op} needs at least one value`);
    return this.#add(`${field(name)}${op}${values.map((v) => value(v, true)).join(',')}`);
  }

  /** ANDs `field ISEMPTY` or `ISNOTEMPTY`. */
  is(name: F, op: EmptyOperator): EncodedQuery<F> {
    return this.#add(`${field(name)}${op}`);
  }

  /** Starts a new query ORed with everything before it (`^NQ`). */
  newQuery(): EncodedQuery<F> {
    if (this.#groups[this.#groups.length - 1]!.length === 0) throw new InvalidOptionError('query.newQuery', 'newQuery() needs a condition before it');
    return new EncodedQuery<F>([...this.#groups, []], this.#order);
  }

  /** ANDs every condition of `other` into each of this query's ^NQ groups (the order of `other` is ignored). */
  and(other: EncodedQuery<F>): EncodedQuery<F> {
    const theirs = other.#groups.filter((g) => g.length > 0);
    if (theirs.length === 0) return this;
    const groups = this.#groups.flatMap((mine) => theirs.map((g) => [...mine, ...g]));
    return new EncodedQuery<F>(groups, this.#order);
  }

  orderBy(name: F | 'sys_id' | 'sys_updated_on' | 'sys_created_on' | 'number'): EncodedQuery<F> {
    return new EncodedQuery<F>(this.#groups, [...this.#order, `ORDERBY${field(name)}`]);
  }

  orderByDesc(name: F | 'sys_id' | 'sys_updated_on' | 'sys_created_on' | 'number'): EncodedQuery<F> {
    return new EncodedQuery<F>(this.#groups, [...this.#order, `ORDERBYDESC${field(name)}`]);
  }

  toString(): string {
    const conditions = this.#groups.filter((g) => g.length > 0).map((g) => g.join('^')).join('^NQ');
    return [conditions, ...this.#order].filter((part) => part !== '').join('^');
  }
}

/**
 * ANDs `condition` into every `^NQ` group of the encoded query `filter` (no ORDERBY): appended
 * once, it would bind to the last group only.
 *
 * @example
 * andIntoEveryGroup('active=true^NQstate=3', 'sys_idINa,b'); // 'active=true^sys_idINa,b^NQstate=3^sys_idINa,b'
 */
export function andIntoEveryGroup(filter: string | undefined, condition: string): string {
  if (filter === undefined || filter === '') return condition;
  return filter.split('^NQ').map((group) => `${group}^${condition}`).join('^NQ');
}
