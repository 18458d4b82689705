/**
 * ServiceNow's encoded query syntax, parsed into groups of clauses:
 *
 *   a^b^ORc^NQd^ORDERBYx^ORDERBYDESCy   →   (a AND (b OR c)) OR (d), ordered by x, then y descending
 *
 * `^` is AND; `^OR` binds only the condition before it and the one after; `^NQ`
 * starts a new query, OR'ed with the others; a trailing `^EQ` (left by the UI's
 * filter builder) is ignored. Pure: no table knowledge (see query-engine.ts).
 */
export const OPERATORS = [
  'NOT IN', 'NOT LIKE', 'ISNOTEMPTY', 'ISEMPTY', 'EMPTYSTRING', 'ANYTHING', 'STARTSWITH', 'ENDSWITH',
  'BETWEEN', 'LIKE', 'IN', '!=', '<=', '>=', '=', '<', '>',
] as const;
export type Operator = (typeof OPERATORS)[number];

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

export interface EncodedQuery {
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
 * @example
 * parseEncodedQuery('active=true^state=3^ORstate=-5^ORDERBYsys_updated_on');
 * // { groups: [[[active=true], [state=3, state=-5]]], orderBy: [{ field: 'sys_updated_on', desc: false }], invalid: [] }
 */
export function parseEncodedQuery(query: string): EncodedQuery {
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
