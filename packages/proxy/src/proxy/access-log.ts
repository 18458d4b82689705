import { once } from 'node:events';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import pino, { type Logger } from 'pino';
import type { ConnectionRecord } from '../net/connection-tracker.js';
import type { Clock, ClockTimer } from 'holdfast/internal/clock.js';
import type { AccessLogConfig } from './config/access-log-config.js';
import { traceIdOf, type RequestRecord } from './http/request-record.js';
import { ProxyConfigError } from 'holdfast/internal/errors.js';

type Destination = ReturnType<typeof pino.destination>;

let isoMs = 0;
let isoField = '';

/** pino's isoTime, made once per millisecond: a busy proxy logs many lines in each. */
function isoTimeCached(): string {
  const now = Date.now();
  if (now !== isoMs) {
    isoMs = now;
    isoField = `,"time":"${new Date(now).toISOString()}"`;
  }
  return isoField;
}

/**
 * A string as JSON, with DEL and the C1 controls escaped too (JSON.stringify leaves them):
 * U+009B is CSI to a terminal that reads 8-bit controls, and a client chooses its path's bytes.
 */
function jsonText(text: string): string {
  return JSON.stringify(text).replace(C1, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
const C1 = /[\u007f-\u009f]/g;

/** Milliseconds with a tenth of a millisecond at most: enough for a log, and short to write. */
const round = (ms: number) => Math.round(ms * 10) / 10;

/**
 * The access log: one JSON line per HTTP request and per layer-4 connection, written through
 * pino to stdout or to a file (asynchronously, flushed on exit), which `reopen()` opens anew
 * after a rotation (SIGUSR1 in the CLI, as nginx's USR1).
 *
 * It never holds a credential: no header is logged (Authorization, Cookie, Proxy-Authorization
 * and the rest never appear), the query string only when `query` is on and then with the
 * values of `redactQueryKeys` replaced, and every value goes through JSON escaping, so that a
 * request cannot write a control sequence into a terminal that shows the log.
 * docs/reference/proxy.md#access-log.
 */
export class AccessLog {
  readonly #config: AccessLogConfig;
  readonly #dest: Destination;
  readonly #batch: LineBatch;
  readonly #flushTimer: ClockTimer | undefined;
  readonly #log: Logger;
  readonly #redact: ReadonlySet<string>;

  private constructor(config: AccessLogConfig, dest: Destination, clock: Clock) {
    this.#config = config;
    this.#redact = new Set(config.redactQueryKeys);
    this.#dest = dest;
    this.#batch = new LineBatch(dest, config.bufferBytes);
    if (config.bufferBytes > 0) {
      const timer = this.#flushTimer = clock.timer(() => { this.#batch.drain(); timer.refresh(); }, config.flushMs);
    }
    // `"log":"access"` in place of a level: on stdout, it tells these lines from the proxy's own.
    this.#log = pino({ base: undefined, timestamp: isoTimeCached, formatters: { level: () => ({ log: 'access' }) } }, this.#batch);
  }

  /**
   * Opens the output: a file that cannot be opened (or its directory made) is a config error
   * naming `accessLog.output`. `onError`: a write failing later (a full disk), which loses lines
   * but never the process.
   */
  static async open(config: AccessLogConfig, clock: Clock, onError: (err: Error) => void): Promise<AccessLog> {
    if (config.output !== 'stdout') {
      // Tried here, where a failure can be a config error: a destination that fails to open
      // would throw from pino's exit hook later.
      try {
        await mkdir(dirname(config.output), { recursive: true });
        await (await open(config.output, 'a')).close();
      } catch (err) {
        throw new ProxyConfigError('config', 'accessLog.output', `cannot open ${config.output} (${(err as Error).message})`);
      }
    }
    // minLength 1 writes what it is given as soon as it can, as 0 would, and makes flush() wait for it.
    const dest = pino.destination({ dest: config.output === 'stdout' ? 1 : config.output, sync: false, minLength: 1, maxWrite: Math.max(16_384, 2 * config.bufferBytes) });
    dest.on('error', onError);
    if (config.output !== 'stdout') await once(dest, 'ready');
    return new AccessLog(config, dest, clock);
  }

  /** The settings it was opened with: a reload with the same ones keeps it. */
  get config(): AccessLogConfig {
    return this.#config;
  }

  get connections(): boolean {
    return this.#config.connections;
  }

  /** The request's line, once its response is over (sent, or cut short). Sampled below 400 when `sample` < 1. */
  request(req: IncomingMessage, res: ServerResponse, record: RequestRecord): void {
    // A response not ended when it closed: the client left first (this runs before the exchange hears of it).
    const cut = !res.writableEnded;
    const status = record.status ?? (cut ? 499 : res.statusCode);
    const end = cut && record.end === 'complete' ? 'client-closed' : record.end;
    const { sample } = this.#config;
    if (sample < 1 && status < 400 && end === 'complete' && Math.random() >= sample) return;
    // The line of every request is built here, in its fixed shape, and handed to pino's
    // destination: pino's generic formatting (a lookup and an escape loop per key) cost twice as
    // much per line (measured: bench/results/issue22).
    const host = (req.headers.host ?? req.headers[':authority']) as string | undefined;
    const traceId = traceIdOf(req);
    const { upstream, upstreamMs, error, requestId } = record;
    // Written between plain quotes, their characters being checked already: the client's address
    // (an IP), the method (an HTTP token: Node and nghttp2 refuse others), the route (a name the
    // config schema checked), the error code, and the request id (requestIdFor keeps only visible
    // ASCII without quotes or backslashes). The upstream's host is the config's, with fewer
    // checks: JSON.stringify. The host and path are the client's: escaped, C1 controls included.
    this.#batch.write(`{"log":"access"${isoTimeCached()},"type":"http","client":"${record.client}","method":"${req.method}"`
      + `${host === undefined ? '' : `,"host":${jsonText(host)}`},"path":${jsonText(this.#path(req.url ?? ''))},"protocol":"HTTP/${req.httpVersion}"`
      + `,"status":${status},"bytesIn":${record.bytesIn},"bytesOut":${record.bytesOut},"durationMs":${round(performance.now() - record.startedAt)}`
      + `,"route":"${record.route}"${upstream === undefined ? '' : `,"upstream":${JSON.stringify(upstream)}`}`
      + `${upstreamMs === undefined ? '' : `,"upstreamMs":${round(upstreamMs)}`},"attempts":${record.attempts},"replays":${record.replays},"end":"${end}"`
      + `${error === undefined ? '' : `,"error":"${error}"`}${requestId === undefined ? '' : `,"requestId":"${requestId}"`}`
      + `${traceId === undefined ? '' : `,"traceId":"${traceId}"`}}\n`);
  }

  /** A layer-4 connection's line, when it closes: its bytes each way, its age and why it ended. */
  connection(record: ConnectionRecord, now: number): void {
    this.#log.info({
      type: 'l4',
      listener: record.listener,
      client: record.clientIp,
      route: record.route,
      upstream: record.target,
      bytesIn: record.client.bytesRead,
      bytesOut: record.client.bytesWritten,
      durationMs: round(now - record.openedAt),
      end: record.reason,
    });
  }

  /** The request target as logged: the path (an absolute-form target's too), and the query when configured, its secrets redacted. */
  #path(url: string): string {
    // An absolute-form target (`http://host/p`) is logged from its path: `host` says the rest.
    const start = url.startsWith('/') ? 0 : url.indexOf('/', url.indexOf('//') + 2);
    if (start < 0) return '/';
    const q = url.indexOf('?', start);
    if (q < 0) return url.slice(start);
    if (!this.#config.query) return url.slice(start, q);
    const pairs = url.slice(q + 1).split('&').map((pair) => {
      const eq = pair.indexOf('=');
      const key = eq < 0 ? pair : pair.slice(0, eq);
      return this.#redact.has(decodeKey(key)) ? `${key}=REDACTED` : pair;
    });
    return `${url.slice(start, q)}?${pairs.join('&')}`;
  }

  /** Opens the file again (after logrotate moved it away); nothing to do on stdout. */
  reopen(): void {
    if (this.#config.output === 'stdout') return;
    this.#batch.drain(); // the held lines go to the file they were logged under
    this.#dest.reopen();
  }

  /** Resolves once every line written so far has reached the file (or stdout). */
  async flush(): Promise<void> {
    this.#batch.drain();
    await new Promise<void>((resolve, reject) => this.#dest.flush((err) => (err ? reject(err) : resolve())));
  }

  /** Writes what is buffered and closes the file (stdout stays open). */
  async close(): Promise<void> {
    this.#flushTimer?.cancel();
    this.#batch.drain();
    const closed = once(this.#dest, 'close');
    this.#dest.end();
    await closed;
  }
}

/**
 * Lines held until `bytes` of them wait (or the log's flush timer), then handed to SonicBoom as
 * one string. SonicBoom's own minLength buffering measures the byte length of its whole
 * pending buffer at every line (Buffer.byteLength of a growing string): a 32 KiB buffer cost
 * more per request than formatting the line (profiled; bench/results/issue22).
 */
class LineBatch {
  readonly #sink: Destination;
  readonly #bytes: number;
  /** The held lines, one string (V8 joins them as a rope: no copy until it is written). */
  #text = '';

  constructor(sink: Destination, bytes: number) {
    this.#sink = sink;
    this.#bytes = bytes;
  }

  /** pino's destination: a line (UTF-16 length counts toward the size: close enough to bytes for a threshold). */
  write(line: string): boolean {
    if (this.#bytes === 0) return this.#sink.write(line);
    this.#text += line;
    if (this.#text.length >= this.#bytes) this.drain();
    return true;
  }

  drain(): void {
    if (this.#text === '') return;
    const text = this.#text;
    this.#text = '';
    this.#sink.write(text);
  }
}

/** A query key as the redaction list compares it: decoded (`%5F` → `_`, `+` → space), lower case. */
function decodeKey(key: string): string {
  try {
    return decodeURIComponent(key.replaceAll('+', ' ')).toLowerCase();
  } catch {
    return key.toLowerCase();
  }
}
