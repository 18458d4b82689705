import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Where a request's record is kept on it (a symbol: no name a Node version could take). */
const RECORD = Symbol('holdfast.requestRecord');

/** The request's record, when the access log is on. */
export function recordOf(req: IncomingMessage): RequestRecord | undefined {
  return (req as { [RECORD]?: RequestRecord })[RECORD];
}

/** What a record is written to (access-log.ts's AccessLog). */
export interface AccessLogLike {
  request(req: IncomingMessage, res: ServerResponse, record: RequestRecord): void;
}

/** Keeps `record` on the request, and writes its line once the response closes (sent, or cut short). */
export function startRecord(req: IncomingMessage, res: ServerResponse, record: RequestRecord): void {
  (req as { [RECORD]?: RequestRecord })[RECORD] = record;
  res.on('close', logLine); // a response closes once
}

/** The 'close' listener of a recorded response: one function for all, no closure per request. */
function logLine(this: ServerResponse): void {
  const record = recordOf(this.req)!;
  record.log.current?.request(this.req, this, record);
}

/** How a request ended, for the access log: its response complete, the client gone first, or the upstream failing before or during the response. */
export type RequestEnd = 'complete' | 'client-closed' | 'upstream-failed' | 'upstream-cut';

/**
 * What the access log says of one HTTP request, filled in as it goes: by the site (the route),
 * the body reader (bytes in) and the exchange (the upstream, its time, the attempts and
 * replays, bytes out, how it ended). Made only while an access log is configured.
 */
export class RequestRecord {
  readonly startedAt = performance.now();
  readonly client: string;
  readonly requestId: string | undefined;
  route = 'none';
  /** Set when the proxy's count differs from the response's status (499: the client left first). */
  status: number | undefined;
  upstream: string | undefined;
  upstreamMs: number | undefined;
  attempts = 0;
  replays = 0;
  bytesIn = 0;
  bytesOut = 0;
  end: RequestEnd = 'complete';
  /** The holdfast error code of a failed upstream request. */
  error: string | undefined;

  /** The log it goes to (the proxy's current one when the response closes). */
  readonly log: { readonly current: AccessLogLike | undefined };

  constructor(client: string, requestId: string | undefined, log: { readonly current: AccessLogLike | undefined }) {
    this.client = client;
    this.requestId = requestId;
    this.log = log;
  }

  /** Counts a response body chunk. */
  wrote(bytes: number): void {
    this.bytesOut += bytes;
  }

  /**
   * The dispatcher's word on each attempt (RequestPolicy.onAttempt: the record is the request's
   * `holdfast` options, which need nothing else): a stale-socket replay is an attempt the
   * exchange did not make itself.
   */
  onAttempt(_attempt: number, reason: string): void {
    if (reason !== 'replay') return;
    this.attempts++;
    this.replays++;
  }
}

/** `http.requestId`: keep a request's X-Request-Id from trusted proxies only, from any client, or neither add nor touch the header. */
export type RequestIdMode = 'trusted' | 'always' | 'off';

/** A request id worth keeping: 1-200 visible ASCII characters without quotes or backslashes (it is logged and sent on). */
const VALID_ID = /^[\x21\x23-\x5b\x5d-\x7e]{1,200}$/;

/**
 * The request's id: its X-Request-Id when `mode` keeps it (from a trusted proxy under
 * `trusted`, from anyone under `always`) and it is well-formed, else a new UUID; undefined when
 * `mode` is `off`. As Envoy does at the edge, an untrusted client's id is replaced by default,
 * so that no client can pass another request's id off as its own in the upstream's logs.
 */
export function requestIdFor(req: IncomingMessage, trusted: boolean, mode: RequestIdMode): string | undefined {
  if (mode === 'off') return undefined;
  if (mode === 'always' || trusted) {
    const given = req.headers['x-request-id'];
    if (typeof given === 'string' && VALID_ID.test(given)) return given;
  }
  return randomUUID();
}

/** The trace id of a valid W3C `traceparent` (version 00 and its field layout), or undefined. */
export function traceIdOf(req: IncomingMessage): string | undefined {
  const header = req.headers.traceparent;
  if (typeof header !== 'string') return undefined;
  const match = /^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(header);
  return match === null || /^0+$/.test(match[1]!) ? undefined : match[1];
}
