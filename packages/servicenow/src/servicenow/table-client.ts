import { request, type Dispatcher } from 'undici';
import { delay, systemClock, type Clock } from 'holdfast/internal/clock.js';
import { fullJitterBackoff, type Backoff } from 'holdfast/internal/policy/backoff.js';
import { parseRetryAfter } from 'holdfast/internal/policy/retry-after.js';
import { HoldfastError, ServiceNowAuthError, ServiceNowResponseError } from 'holdfast/internal/errors.js';

/** A record as the Table API sends it with `sysparm_display_value=false`: every value a string. */
export type SnRecord = Record<string, string>;

export const DEFAULT_PAGE_SIZE = 1000;
/** Attempts per page for failures the dispatcher cannot retry: a body cut off, an `error` object, a 5xx or 429 that outlasted its retries. */
export const DEFAULT_PAGE_ATTEMPTS = 6;
/** A `Retry-After` longer than this is not waited for: the page fails and the next cycle tries again. */
export const MAX_RETRY_AFTER_MS = 60_000;

/** One answered request, for the upstream-health view. */
export interface RequestSample {
  table: string;
  /** The status, or the error code when no response arrived. */
  outcome: number | string;
  ms: number;
  /** 1 for a page's first attempt; more when this client retried the page. */
  attempt: number;
}

export interface ListOptions {
  query?: string;
  fields?: readonly string[];
  limit?: number;
  offset?: number;
  signal?: AbortSignal;
}

export interface Page {
  records: SnRecord[];
  /** `X-Total-Count`: rows matching the query. */
  totalCount: number | undefined;
  /** The instance's clock (`Date` header), in ms since the epoch. */
  serverTime: number | undefined;
}

export interface TableClientOptions {
  instance: string;
  auth: import('./auth.js').Authenticator;
  dispatcher: Dispatcher;
  clock?: Clock;
  attempts?: number;
  backoff?: Backoff;
  onSample?: (sample: RequestSample) => void;
}

/**
 * Reads tables through the Table API (research/servicenow.md §8.2): JSON, raw values,
 * no reference links, explicit fields, the query as one encoded parameter. Status
 * retries (429 with `Retry-After`, 5xx), replays and backoff happen in the holdfast
 * dispatcher below; this client retries what only it can see: a 200 whose body was
 * cut off or carries an `error` object, a body that failed mid-way, and a 401 once
 * with a fresh token.
 */
export class TableClient {
  readonly #base: URL;
  readonly #auth: TableClientOptions['auth'];
  readonly #dispatcher: Dispatcher;
  readonly #clock: Clock;
  readonly #attempts: number;
  readonly #backoff: Backoff;
  readonly #onSample: ((sample: RequestSample) => void) | undefined;
  /** Requests sent so far (each attempt of a page counts). */
  requests = 0;
  /** The requests waiting for their answer, with their start times (clock ms). */
  readonly #pending = new Set<{ started: number }>();

  constructor(options: TableClientOptions) {
    this.#base = new URL(options.instance);
    this.#auth = options.auth;
    this.#dispatcher = options.dispatcher;
    this.#clock = options.clock ?? systemClock;
    this.#attempts = options.attempts ?? DEFAULT_PAGE_ATTEMPTS;
    this.#backoff = options.backoff ?? fullJitterBackoff({ baseMs: 250, maxMs: 10_000 });
    this.#onSample = options.onSample;
  }

  /** The instance's URL of a record, for links from the dashboard. */
  recordUrl(table: string, sysId: string): string {
    return new URL(`/nav_to.do?uri=${encodeURIComponent(`${table}.do?sys_id=${sysId}`)}`, this.#base).href;
  }

  /** One page of `table`. Throws ServiceNowResponseError (with `retryable`) or a HoldfastError from the dispatcher. */
  async list(table: string, options: ListOptions = {}): Promise<Page> {
    const url = new URL(`/api/now/table/${encodeURIComponent(table)}`, this.#base);
    const params = url.searchParams;
    params.set('sysparm_display_value', 'false');
    params.set('sysparm_exclude_reference_link', 'true');
    params.set('sysparm_limit', String(options.limit ?? DEFAULT_PAGE_SIZE));
    if (options.query !== undefined && options.query !== '') params.set('sysparm_query', options.query);
    if (options.fields !== undefined) params.set('sysparm_fields', options.fields.join(','));
    if (options.offset !== undefined && options.offset > 0) params.set('sysparm_offset', String(options.offset));
    let authRetried = false;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#attempt(table, url.href, attempt, options.signal);
      } catch (err) {
        if (err instanceof ServiceNowAuthError && err.statusCode === 401 && !authRetried && err.freshCredential) {
          authRetried = true; // a token revoked or expired early: once more with a fresh one
          attempt--;
          continue;
        }
        if (!(err instanceof ServiceNowResponseError) || !err.retryable || attempt >= this.#attempts || (err.retryAfterMs ?? 0) > MAX_RETRY_AFTER_MS) throw err;
        await delay(this.#clock, err.retryAfterMs ?? this.#backoff(attempt), options.signal);
      }
    }
  }

  async #attempt(table: string, url: string, attempt: number, signal: AbortSignal | undefined): Promise<Page> {
    const authorization = await this.#auth.header(signal);
    const started = this.#clock.now();
    this.requests++;
    let outcome: number | string = 'error';
    const pending = this.#track(started);
    try {
      const res = await request(url, { dispatcher: this.#dispatcher, signal, headers: { accept: 'application/json', authorization } })
        .catch((err: unknown) => { outcome = err instanceof HoldfastError ? err.code : 'error'; throw err; });
      outcome = res.statusCode;
      let text: string;
      try {
        text = await res.body.text();
      } catch (cause) {
        outcome = 'body';
        throw new ServiceNowResponseError(`${table}: the body was cut off (${(cause as Error).message})`, { statusCode: res.statusCode, cause, retryable: true });
      }
      if (res.statusCode === 401) {
        const fresh = this.#auth.rejected(authorization);
        throw new ServiceNowAuthError(`${table}: 401 User Not Authenticated`, { statusCode: 401, freshCredential: fresh });
      }
      if (res.statusCode !== 200) throw this.#statusError(table, res.statusCode, res.headers, text);
      const result = parseResult(table, text);
      const total = Number(res.headers['x-total-count']);
      const date = Date.parse(String(res.headers.date));
      return { records: result, totalCount: Number.isFinite(total) ? total : undefined, serverTime: Number.isNaN(date) ? undefined : date };
    } finally {
      pending();
      this.#onSample?.({ table, outcome, ms: this.#clock.now() - started, attempt });
    }
  }

  /** How long the oldest request in flight has waited for its answer, in ms; 0 when none is. */
  waitingMs(): number {
    let oldest = Number.POSITIVE_INFINITY;
    for (const { started } of this.#pending) oldest = Math.min(oldest, started);
    return oldest === Number.POSITIVE_INFINITY ? 0 : this.#clock.now() - oldest;
  }

  #track(started: number): () => void {
    const entry = { started };
    this.#pending.add(entry);
    return () => this.#pending.delete(entry);
  }

  #statusError(table: string, status: number, headers: Record<string, string | string[] | undefined>, text: string): ServiceNowResponseError {
    let message = '';
    try { message = String((JSON.parse(text) as { error?: { message?: unknown } }).error?.message ?? ''); } catch { /* not JSON */ }
    const retryable = status === 429 || status === 202 || status >= 500;
    const retryAfterMs = parseRetryAfter(typeof headers['retry-after'] === 'string' ? headers['retry-after'] : undefined, this.#clock.wallNow());
    return new ServiceNowResponseError(`${table}: ${status} ${message}`.trim(), { statusCode: status, retryable, retryAfterMs });
  }
}

/** The `result` array of a 200, or a retryable error when the body was cut off or carries an `error` (KB1297438). */
function parseResult(table: string, text: string): SnRecord[] {
  let body: { result?: unknown; error?: { message?: unknown } };
  try {
    body = JSON.parse(text) as typeof body;
  } catch (cause) {
    const quota = text.includes('"error"') ? ' with an error appended (the transaction quota)' : '';
    throw new ServiceNowResponseError(`${table}: a 200 whose body is not JSON${quota}`, { statusCode: 200, cause, retryable: true });
  }
  if (body.error !== undefined) {
    throw new ServiceNowResponseError(`${table}: a 200 carrying an error: ${String(body.error.message)}`, { statusCode: 200, retryable: true });
  }
  if (!Array.isArray(body.result)) throw new ServiceNowResponseError(`${table}: a 200 without a result list`, { statusCode: 200, retryable: false });
  return body.result as SnRecord[];
}
