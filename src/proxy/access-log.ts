import { once } from 'node:events';
import { mkdir, open } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import pino, { type Logger } from 'pino';
import type { ConnectionRecord } from '../net/connection-tracker.js';
import type { AccessLogConfig } from './config/access-log-config.js';
import { traceIdOf, type RequestRecord } from './http/request-record.js';
import { ProxyConfigError } from '../errors.js';

type Destination = ReturnType<typeof pino.destination>;

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
  readonly #log: Logger;
  readonly #redact: ReadonlySet<string>;

  private constructor(config: AccessLogConfig, dest: Destination) {
    this.#config = config;
    this.#redact = new Set(config.redactQueryKeys);
    this.#dest = dest;
    // `"log":"access"` in place of a level: on stdout, it tells these lines from the proxy's own.
    this.#log = pino({ base: undefined, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: () => ({ log: 'access' }) } }, dest);
  }

  /**
   * Opens the output: a file that cannot be opened (or its directory made) is a config error
   * naming `accessLog.output`. `onError`: a write failing later (a full disk), which loses lines
   * but never the process.
   */
  static async open(config: AccessLogConfig, onError: (err: Error) => void): Promise<AccessLog> {
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
    // minLength 1 writes every line as soon as it can, as 0 would, and makes flush() wait for them.
    const dest = pino.destination({ dest: config.output === 'stdout' ? 1 : config.output, sync: false, minLength: 1 });
    dest.on('error', onError);
    if (config.output !== 'stdout') await once(dest, 'ready');
    return new AccessLog(config, dest);
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
    this.#log.info({
      type: 'http',
      client: record.client,
      method: req.method,
      host: req.headers.host ?? req.headers[':authority'],
      path: this.#path(req.url ?? ''),
      protocol: `HTTP/${req.httpVersion}`,
      status,
      bytesIn: record.bytesIn,
      bytesOut: record.bytesOut,
      durationMs: round(performance.now() - record.startedAt),
      route: record.route,
      upstream: record.upstream,
      upstreamMs: record.upstreamMs === undefined ? undefined : round(record.upstreamMs),
      attempts: record.attempts,
      replays: record.replays,
      end,
      error: record.error,
      requestId: record.requestId,
      traceId: traceIdOf(req),
    });
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
    if (this.#config.output !== 'stdout') this.#dest.reopen();
  }

  /** Resolves once every line written so far has reached the file (or stdout). */
  async flush(): Promise<void> {
    await new Promise<void>((resolve, reject) => this.#dest.flush((err) => (err ? reject(err) : resolve())));
  }

  /** Writes what is buffered and closes the file (stdout stays open). */
  async close(): Promise<void> {
    const closed = once(this.#dest, 'close');
    this.#dest.end();
    await closed;
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
