import { andIntoEveryGroup } from './encoded-query.js';
import { DEFAULT_PAGE_SIZE, type Page, type SnRecord, type TableClient } from './table-client.js';

/** Where a keyset pass stands: the (sys_updated_on, sys_id) of the last record it returned. */
export interface KeysetCursor {
  ts: string;
  id: string;
}

export interface KeysetOptions {
  /** An encoded query ANDed into every request (no ORDERBY). */
  filter?: string;
  /** Start at records updated at or after this `YYYY-MM-DD HH:mm:ss` (UTC). */
  since?: string;
  /** Resume after this record (a saved cursor); takes precedence over `since`. */
  after?: KeysetCursor;
  fields: readonly string[];
  pageSize?: number;
  signal?: AbortSignal;
  /** Stop after this many requests (a guard against a table that never stops changing). */
  maxRequests?: number;
}

export interface KeysetPage {
  /** Records after the cursor, in (sys_updated_on, sys_id) order, each sys_id once. */
  records: SnRecord[];
  cursor: KeysetCursor | undefined;
  totalCount: number | undefined;
  serverTime: number | undefined;
}

export const DEFAULT_MAX_REQUESTS = 100_000;

const after = (r: SnRecord, c: KeysetCursor | undefined) =>
  c === undefined || r.sys_updated_on! > c.ts || (r.sys_updated_on === c.ts && r.sys_id! > c.id);

/**
 * Reads every record of a table that matches `filter`, in (sys_updated_on, sys_id)
 * order, without offsets (research/servicenow.md §5.5): each request asks for
 * `sys_updated_on>=<last ts>^ORDERBYsys_updated_on^ORDERBYsys_id` and drops the rows at
 * or before the last (ts, sys_id) already returned. Offsets would shift as records
 * change; a record updated during the pass moves to the end and is read again there.
 *
 * When more than a page of records share one second, `>=` cannot move past it, so
 * that one second is walked by sys_id, again without offsets
 * (`sys_updated_on=<ts>^sys_id><last id>^ORDERBYsys_id`: the Table API compares strings
 * with `>`), and the pass goes on from `sys_updated_on><ts>`. A record edited during
 * the walk leaves the second for a later one, where the pass reads it; a record deleted
 * leaves no gap for others to fall into (with offsets, each one removed ahead of the
 * walk made the next page skip one record for good: issue 17).
 *
 * The pass ends on an empty page or a page with nothing new: an instance may answer
 * fewer rows than the limit while more exist (the limit applies before ACLs), so a
 * short page alone does not end it.
 */
export async function* keysetPages(client: Pick<TableClient, 'list'>, table: string, options: KeysetOptions): AsyncGenerator<KeysetPage> {
  const limit = options.pageSize ?? DEFAULT_PAGE_SIZE;
  const maxRequests = options.maxRequests ?? DEFAULT_MAX_REQUESTS;
  const where = (condition: string) => andIntoEveryGroup(options.filter, condition);
  let cursor = options.after;
  let strictAfter: string | undefined; // set after walking a crowded second
  let requests = 0;
  const get = (query: string): Promise<Page> => {
    if (++requests > maxRequests) throw new Error(`${table}: keyset pass stopped after ${maxRequests} requests`);
    return client.list(table, { query, fields: options.fields, limit, signal: options.signal });
  };
  for (;;) {
    const from = strictAfter !== undefined ? `sys_updated_on>${strictAfter}` : (cursor?.ts ?? options.since) !== undefined ? `sys_updated_on>=${cursor?.ts ?? options.since!}` : '';
    const page = await get(`${from === '' ? options.filter ?? '' : where(from)}^ORDERBYsys_updated_on^ORDERBYsys_id`.replace(/^\^/, ''));
    strictAfter = undefined;
    const fresh = page.records.filter((r) => after(r, cursor));
    if (page.records.length === 0) return;
    if (fresh.length === 0) {
      if (page.records.length < limit || cursor === undefined) return;
      // A full page, all at or before the cursor: more than `limit` records share cursor.ts.
      const second = cursor.ts;
      for (;;) {
        const crowd = await get(`${where(`sys_updated_on=${second}^sys_id>${cursor.id}`)}^ORDERBYsys_id`);
        const newer = crowd.records.filter((r) => after(r, cursor));
        if (newer.length > 0) {
          cursor = { ts: second, id: newer[newer.length - 1]!.sys_id! };
          yield { ...crowd, records: newer, cursor };
        }
        if (newer.length === 0 || crowd.records.length < limit) break;
      }
      strictAfter = second;
      continue;
    }
    const last = fresh[fresh.length - 1]!;
    cursor = { ts: last.sys_updated_on!, id: last.sys_id! };
    yield { records: fresh, cursor, totalCount: page.totalCount, serverTime: page.serverTime };
  }
}
