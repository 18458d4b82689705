import type { InstanceData } from './instance-data.js';
import { UnknownFieldError } from './query-engine.js';
import { RecordRenderer, type DisplayValue } from './render.js';
import type { TableStore } from './table-store.js';
import type { SnRecord } from './tables.js';

/** A Table API answer before faults and transport: status, headers, JSON body (or none). */
export interface ApiAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  /** Rows in the answer, for the simulated transaction time. */
  rows?: number;
}

export type Query = Record<string, string | undefined>;

/** ServiceNow's error envelope. */
export function failure(status: number, message: string, detail: string | null, headers: Record<string, string> = {}): ApiAnswer {
  return { status, headers, body: { error: { message, detail }, status: 'failure' } };
}

export const DEFAULT_LIMIT = 10_000;

const flag = (value: string | undefined) => value === 'true';

function displayOf(query: Query): DisplayValue {
  const v = query.sysparm_display_value;
  return v === 'true' || v === 'all' ? v : 'false';
}

/** The Table API over an InstanceData: list, read, create, update, delete. */
export class TableApi {
  readonly #data: InstanceData;
  readonly #strict: boolean;

  constructor(data: InstanceData, { strict }: { strict: boolean }) {
    this.#data = data;
    this.#strict = strict;
  }

  #renderer(table: TableStore, query: Query, baseUrl: string): RecordRenderer | ApiAnswer {
    const fields = query.sysparm_fields === undefined || query.sysparm_fields === '' ? undefined : query.sysparm_fields.split(',').map((f) => f.trim()).filter((f) => f !== '');
    if (fields !== undefined && this.#strict) {
      const unknown = RecordRenderer.unknownFields(this.#data.engine, table, fields);
      if (unknown.length > 0) return failure(400, `Invalid field(s): ${unknown.join(', ')}`, `Table ${table.def.name} has no field ${unknown[0]}`);
    }
    return new RecordRenderer(this.#data.engine, this.#data.tables, table, {
      fields, display: displayOf(query), excludeReferenceLink: flag(query.sysparm_exclude_reference_link), baseUrl,
      journal: (sysId, element) => this.#data.journalText(sysId, element),
    });
  }

  /** `GET /api/now[/vN]/table/{table}`. */
  list(table: TableStore, query: Query, { baseUrl, path, version, hidden = false }: { baseUrl: string; path: string; version: string | undefined; hidden?: boolean }): ApiAnswer {
    const limit = nonNegative(query.sysparm_limit) ?? DEFAULT_LIMIT;
    const offset = nonNegative(query.sysparm_offset) ?? 0;
    let rows: SnRecord[];
    try {
      rows = hidden ? [] : this.#data.engine.run(table, this.queryOf(table, query));
    } catch (err) {
      if (err instanceof UnknownFieldError) return failure(400, 'Invalid query', err.message);
      throw err;
    }
    const renderer = this.#renderer(table, query, baseUrl);
    if (!(renderer instanceof RecordRenderer)) return renderer;
    const page = rows.slice(offset, offset + limit);
    if (page.length === 0 && version === 'v1') return failure(404, 'No Record found', 'Records matching query not found. Check query parameter or offset parameter');
    const headers: Record<string, string> = {};
    if (!flag(query.sysparm_no_count)) headers['x-total-count'] = String(rows.length);
    if (!flag(query.sysparm_suppress_pagination_header) && limit > 0) headers.link = linkHeader(baseUrl + path, query, offset, limit, rows.length);
    return { status: 200, headers, body: { result: page.map((r) => renderer.render(r)) }, rows: page.length };
  }

  /**
   * `sysparm_query`, or name=value pairs standing in for it (the two are exclusive). A pair's
   * value may be a display value (`?state=Closed`, `?assignment_group=Network`), as on an instance.
   */
  queryOf(table: TableStore, query: Query): string {
    if (query.sysparm_query !== undefined) return query.sysparm_query;
    return Object.entries(query).filter(([k, v]) => !k.startsWith('sysparm_') && v !== undefined)
      .map(([k, v]) => `${k}=${this.#data.storedValue(table.def.fields[k], v!)}`).join('^');
  }

  /** `GET …/{table}/{sys_id}`. */
  read(table: TableStore, sysId: string, query: Query, baseUrl: string): ApiAnswer {
    const record = table.get(sysId);
    if (record === undefined) return notFound();
    const renderer = this.#renderer(table, query, baseUrl);
    if (!(renderer instanceof RecordRenderer)) return renderer;
    return { status: 200, headers: {}, body: { result: renderer.render(record) }, rows: 1 };
  }

  create(table: TableStore, body: unknown, user: string, query: Query, baseUrl: string): ApiAnswer {
    const values = recordBody(body);
    if (values === undefined) return failure(400, 'Exception while reading request', 'The payload is not valid JSON.');
    const record = this.#data.create(table, values, user, { displayValues: flag(query.sysparm_input_display_value) });
    const answer = this.read(table, record.sys_id!, query, baseUrl);
    return { ...answer, status: 201, headers: { location: `${baseUrl}/api/now/table/${table.def.name}/${record.sys_id}` } };
  }

  update(table: TableStore, sysId: string, body: unknown, user: string, query: Query, baseUrl: string): ApiAnswer {
    const record = table.get(sysId);
    if (record === undefined) return notFound();
    const values = recordBody(body);
    if (values === undefined) return failure(400, 'Exception while reading request', 'The payload is not valid JSON.');
    this.#data.update(table, record, values, user, { displayValues: flag(query.sysparm_input_display_value) });
    return this.read(table, sysId, query, baseUrl);
  }

  delete(table: TableStore, sysId: string, user: string): ApiAnswer {
    const record = table.get(sysId);
    if (record === undefined) return notFound();
    this.#data.delete(table, record, user);
    return { status: 204, headers: {}, body: undefined };
  }
}

function notFound(): ApiAnswer {
  return failure(404, 'No Record found', "Record doesn't exist or ACL restricts the record retrieval");
}

function nonNegative(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

/** A write's body: one record (only the first of an array, as the instance does). */
function recordBody(body: unknown): Record<string, unknown> | undefined {
  const first = Array.isArray(body) ? body[0] : body;
  return typeof first === 'object' && first !== null ? (first as Record<string, unknown>) : undefined;
}

/**
 * ServiceNow's `Link` header: `<url>;rel="first",<url>;rel="prev",<url>;rel="next",<url>;rel="last"`,
 * with no space before `;rel`. Each URL keeps the caller's parameters and sets
 * sysparm_limit and sysparm_offset. `prev` is offset − limit, negative on the
 * first page as captures show; `next` is left out on the last page; `last` is at
 * floor((total − 1) / limit) × limit.
 */
export function linkHeader(url: string, query: Query, offset: number, limit: number, total: number): string {
  const at = (o: number) => {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && k !== 'sysparm_limit' && k !== 'sysparm_offset') params.set(k, v);
    params.set('sysparm_limit', String(limit));
    params.set('sysparm_offset', String(o));
    return `<${url}?${params.toString()}>`;
  };
  const last = total === 0 ? 0 : Math.floor((total - 1) / limit) * limit;
  const parts = [`${at(0)};rel="first"`, `${at(offset - limit)};rel="prev"`];
  if (offset + limit < total) parts.push(`${at(offset + limit)};rel="next"`);
  parts.push(`${at(last)};rel="last"`);
  return parts.join(',');
}
