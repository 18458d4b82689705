import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ConnectionRecord, ConnectionTracker } from '../net/connection-tracker.js';
import type { DialFailure } from '../net/dial.js';
import { HttpMetrics } from './http/http-metrics.js';
import { ProxyMetrics } from './l4/proxy-metrics.js';
import type { HandshakeOutcome } from './tls/tls-terminate.js';
import type { UpstreamHooks } from './upstream/upstream.js';
import { AccessLog } from './access-log.js';
import type { AccessLogConfig } from './config/access-log-config.js';
import type { Clock } from 'holdfast/internal/clock.js';

/** What a library user hears (create-proxy.ts): each event is emitted only while someone listens. */
export interface ProxyEvents {
  connection: [{ listener: string; client: string | undefined }];
  request: [{ route: string; status: number; target: string }];
  reload: [{ why: string; applied: boolean; error?: string }];
  error: [Error];
}

/**
 * The proxy's one voice, as client/telemetry.ts is the client's: a connection (it is the
 * ConnectionHooks of l4/l4-connection.ts), an upstream or the runtime reports an event here,
 * once, and it becomes its metric (l4/proxy-metrics.ts, http/http-metrics.ts, one registry)
 * and its log line. Per-connection lines are built only
 * when debug logging is on. The per-request path (an exchange's status and latency) goes
 * straight to `http`, which is a counter bump and nothing else.
 */
export class ProxyTelemetry implements UpstreamHooks {
  readonly l4: ProxyMetrics;
  readonly http: HttpMetrics;
  readonly #tracker: ConnectionTracker;
  readonly #logger: Logger | undefined;
  readonly #debug: Logger | undefined;
  readonly #events: EventEmitter<ProxyEvents> | undefined;
  readonly #clock: Clock;
  /** The access log, when `accessLog:` is set: read at each request's start and end, so a reload that changes it takes effect at once. */
  readonly accessLog: { current: AccessLog | undefined } = { current: undefined };

  constructor(tracker: ConnectionTracker, logger: Logger | undefined, clock: Clock, events?: EventEmitter<ProxyEvents>) {
    this.#tracker = tracker;
    this.#clock = clock;
    this.#logger = logger;
    this.#events = events;
    this.#debug = logger?.isLevelEnabled('debug') === true ? logger : undefined;
    this.l4 = new ProxyMetrics(tracker);
    this.http = new HttpMetrics(this.l4.registry);
    // The per-request path pays for 'request' only once someone listens for it.
    const emitRequests = () => { this.http.onFinished = (route, status, target) => events!.emit('request', { route, status, target }); };
    if (events !== undefined && events.listenerCount('request') > 0) emitRequests();
    (events as EventEmitter | undefined)?.on('newListener', (name: string) => { if (name === 'request') emitRequests(); });
    tracker.on('refused', (limit, listener) => this.#debug?.debug({ limit, listener }, 'connection refused by a limit'));
  }

  listening(listener: string, host: string, port: number): void {
    this.#logger?.info({ listener, host, port }, 'listening');
  }

  listenerClosed(listener: string): void {
    this.#logger?.info({ listener }, 'listener closed');
  }

  /** A listener failed after binding (EMFILE on accept, say): logged, the process stays up. */
  listenerError(listener: string, err: Error): void {
    this.#logger?.error({ err, listener }, 'listener error');
    if (this.#events !== undefined && this.#events.listenerCount('error') > 0) this.#events.emit('error', err);
  }

  opened(listener: string, socket: Socket): void {
    this.l4.opened(listener);
    if (this.#events !== undefined && this.#events.listenerCount('connection') > 0) this.#events.emit('connection', { listener, client: socket.remoteAddress });
    this.#debug?.debug({ listener, client: socket.remoteAddress, clientPort: socket.remotePort, active: this.#tracker.active }, 'connection opened');
  }

  connectFailed(route: string, target: string, failure: DialFailure): void {
    this.l4.connectFailed(route, target, failure);
    this.#logger?.warn({ route, target, failure }, 'backend connect failed');
  }

  handshake(route: string, outcome: HandshakeOutcome): void {
    this.http.handshake(route, outcome);
    if (outcome !== 'ok') this.#debug?.debug({ route, outcome }, 'TLS handshake failed');
  }

  closed(record: ConnectionRecord): void {
    const log = this.accessLog.current;
    if (log?.connections === true) log.connection(record, this.#clock.now());
    this.#debug?.debug({ id: record.id, route: record.route, reason: record.reason, active: this.#tracker.active }, 'connection closed');
  }

  /**
   * Opens the access log `config` asks for (a config error when its file cannot be opened),
   * and closes the one it replaces once every line written to it is out. The same settings keep
   * the open one.
   */
  async useAccessLog(config: AccessLogConfig | undefined): Promise<void> {
    await (await this.prepareAccessLog(config)).commit();
  }

  /**
   * Opens the access log `config` asks for without using it yet (a file that cannot be opened
   * throws here, a config error): `commit()` puts it in use and closes the one it replaces;
   * `abort()` closes it (a reload that failed later keeps the running log).
   */
  async prepareAccessLog(config: AccessLogConfig | undefined): Promise<{ commit(): Promise<void>; abort(): Promise<void> }> {
    const old = this.accessLog.current;
    if (config === undefined ? old === undefined : old !== undefined && JSON.stringify(config) === JSON.stringify(old.config)) {
      return { commit: async () => {}, abort: async () => {} };
    }
    const next = config === undefined ? undefined : await AccessLog.open(config, this.#clock, (err) => this.#logger?.error({ err }, 'access log write failed'));
    return {
      commit: async () => {
        this.accessLog.current = next;
        await old?.close();
      },
      abort: async () => { await next?.close(); },
    };
  }

  /** Opens the access log's file again (after a rotation moved it). */
  reopenAccessLog(): void {
    const log = this.accessLog.current;
    if (log === undefined) return;
    log.reopen();
    this.#logger?.info({ output: log.config.output }, 'access log reopened');
  }

  ejected(upstream: string, target: string): void {
    this.http.ejected(upstream, target);
    this.#logger?.warn({ upstream, target }, 'target ejected: out of rotation after consecutive failures');
  }

  checked(upstream: string, target: string, result: 'pass' | 'fail'): void {
    this.http.checked(upstream, target, result);
  }

  healthChanged(upstream: string, target: string, healthy: boolean): void {
    if (healthy) this.#logger?.info({ upstream, target }, 'target healthy again: back in rotation');
    else this.#logger?.warn({ upstream, target }, 'target failed its health check: out of rotation');
  }

  replayed(upstream: string, target: string): void {
    this.http.replayed(upstream, target);
  }

  /** `tls.verify: false` on an upstream: said at every load. */
  verificationOff(upstream: string): void {
    this.#logger?.warn({ upstream }, 'certificate verification is OFF for this upstream (tls.verify: false)');
  }

  reloaded(why: string, details: object): void {
    this.l4.reloaded('applied');
    this.#events?.emit('reload', { why, applied: true });
    this.#logger?.info({ why, ...details }, 'config reloaded');
  }

  /** A reload that was refused (`stage` load: the file is invalid; apply: it could not be applied). */
  reloadRefused(why: string, stage: 'load' | 'apply', error: string): void {
    this.l4.reloaded('invalid');
    this.#events?.emit('reload', { why, applied: false, error });
    this.#logger?.error({ why, error }, stage === 'load' ? 'config reload refused; the running config stays' : 'config reload failed; the running config stays');
  }

  certificatesReloaded(file: string, certificates: unknown): void {
    this.#logger?.info({ file, certificates }, 'certificates reloaded');
  }

  certificatesRefused(file: string, error: string): void {
    this.#logger?.error({ file, error }, 'certificate reload refused; the running certificates stay');
  }
}
