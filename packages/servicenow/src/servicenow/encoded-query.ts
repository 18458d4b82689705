import { InvalidOptionError } from 'holdfast/internal/errors.js';

/**
 * ServiceNow's encoded query grammar (research/servicenow.md §1.3), written once: the
 * mirror's builder writes it and the simulator's parser reads it.
 *
 *   a^b^ORc^NQd^ORDERBYx^ORDERBYDESCy   →   (a AND (b OR c)) OR (d), ordered by x, then y descending
 *
 * A condition is `<field><OPERATOR><value>`. The operator decides the value's shape.
 */
export const OPERATOR_KINDS = {
  '=': 'value', '!=': 'value', '<': 'value', '<=': 'value', '>': 'value', '>=': 'value',
  LIKE: 'value', 'NOT LIKE': 'value', STARTSWITH: 'value', ENDSWITH: 'value',
  /** `sys_class_nameINSTANCEOFtask`: the class or any class extending it. */
  INSTANCEOF: 'value',
  IN: 'list', 'NOT IN': 'list',
  ISEMPTY: 'none', ISNOTEMPTY: 'none', EMPTYSTRING: 'none', ANYTHING: 'none',
  /** `priorityBETWEEN1@3`. */
  BETWEEN: 'range',
} as const;

export type Operator = keyof typeof OPERATOR_KINDS;
type OperatorsOf<K> = { [O in Operator]: (typeof OPERATOR_KINDS)[O] extends K ? O : never }[Operator];
/** Operators that take one value. */
export type ValueOperator = OperatorsOf<'value'>;
/** Operators that take a list of values. */
export type ListOperator = OperatorsOf<'list'>;
/** Operators that take no value. */
export type EmptyOperator = OperatorsOf<'none'>;

/** Longest first: `INSTANCEOF` before `IN`, `NOT IN` before `IN`, `<=` before `<`. */
export const OPERATORS = (Object.keys(OPERATOR_KINDS) as Operator[]).sort((a, b) => b.length - a.length);

export interface Condition {
  /** A field name, or a dot-walk through references (`assignment_group.name`). */
  field: string;
  op: Operator;
  value: string;
}

/** Conditions joined by OR. */
export type Clause = Condition[];
/** Clauses joined by AND. */
export type Group = Clause[];

export interface OrderBy {
  field: string;
  desc: boolean;
}

export interface ParsedQuery {
  /** OR'ed together (`^NQ`); an empty list matches everything. */
  groups: Group[];
  orderBy: OrderBy[];
  /** Parts that are not a condition (no operator), ignored as a real instance ignores them. */
  invalid: string[];
}

// Field names are lower case; operators are upper case or symbols, so the split is unambiguous.
const CONDITION = new RegExp(`^([a-z0-9_.]+)(${OPERATORS.map((op) => op.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})(.*)$`, 's');

/** Parses one condition, such as `stateIN1,2` or `assignment_group.name=Network`. */
export function parseCondition(text: string): Condition | undefined {
  const match = CONDITION.exec(text);
  if (match === null) return undefined;
  return { field: match[1]!, op: match[2] as Operator, value: match[3]! };
}

/**
 * `^` is AND; `^OR` binds only the condition before it and the one after; `^NQ` starts a
 * new query, OR'ed with the others; a trailing `^EQ` (left by the UI's filter builder) is
 * ignored.
 *
 * @example
 * parseEncodedQuery('active=true^state=3^ORstate=-5^ORDERBYsys_updated_on');
 * // { groups: [[[active=true], [state=3, state=-5]]], orderBy: [{ field: 'sys_updated_on', desc: false }], invalid: [] }
 */
export function parseEncodedQuery(query: string): ParsedQuery {
  const groups: Group[] = [];
  const orderBy: OrderBy[] = [];
  const invalid: string[] = [];
  let group: Group = [];
  for (const token of query.split('^')) {
    if (token === '' || token === 'EQ') continue;
    if (token.startsWith('ORDERBYDESC')) {
      orderBy.push({ field: token.slice('ORDERBYDESC'.length), desc: true });
      continue;
    }
    if (token.startsWith('ORDERBY')) {
      orderBy.push({ field: token.slice('ORDERBY'.length), desc: false });
      continue;
    }
    let text = token;
    let or = false;
    if (token.startsWith('NQ')) {
      if (group.length > 0) groups.push(group);
      group = [];
      text = token.slice(2);
    } else if (token.startsWith('OR')) {
      or = true;
      text = token.slice(2);
    }
    const condition = parseCondition(text);
    if (condition === undefined) {
      invalid.push(text);
      continue;
    }
    const last = group.at(-1);
    if (or && last !== undefined) last.push(condition);
    else group.push([condition]);
  }
  if (group.length > 0) groups.push(group);
  return { groups, orderBy, invalid };
}

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
  where(name: F | 'sys_id' | 'sys_updated_on' | 'sys_created_on' | 'sys_class_name', op: ValueOperator, v: string): EncodedQuery<F> {
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

  /** ANDs `field BETWEEN low@high` (inclusive). */
  between(name: F | 'sys_updated_on' | 'sys_created_on', low: string, high: string): EncodedQuery<F> {
    if (low.includes('@') || high.includes('@')) throw new InvalidOptionError('query.value', 'a BETWEEN bound cannot contain @');
    return this.#add(`${field(name)}BETWEEN${value(low)}@${value(high)}`);
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
