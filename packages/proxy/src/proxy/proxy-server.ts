import { once, type EventEmitter } from 'node:events';
import { createServer, type Server } from 'node:net';
import type { Logger } from 'pino';
import type { HttpMetrics } from './http/http-metrics.js';
import type { ProxyMetrics } from './l4/proxy-metrics.js';
import { CidrSet } from '../net/address.js';
import { ConnectionTracker, type LimitBroker } from '../net/connection-tracker.js';
import { RedisLimits } from './redis-limits.js';
import { summarize, type ConnectionSummary } from './connection-summary.js';
import { CertificateStore } from './tls/certificate-store.js';
import { buildGeneration, closeGeneration, retireGeneration, type Generation } from './generation.js';
import { listenerName, type ListenerConfig, type ProxyConfig } from './config/config.js';
import { L4Connection, type ListenerContext } from './l4/l4-connection.js';
import { ProxyTelemetry, type ProxyEvents } from './telemetry.js';
export type { ConnectionSummary } from './connection-summary.js';
import { systemClock, type Clock } from 'holdfast/internal/clock.js';
import type { AcmeManager, AcmeRef } from './acme/acme-manager.js';
import { acmeKey, openAcme } from './acme/acme-setup.js';
import { AcmeTelemetry } from './acme/acme-telemetry.js';

/** A bound listener: `port` is the real one (a configured 0 becomes the port the OS chose). */
export interface BoundListener { name: string; host: string; port: number }

interface LiveListener { key: string; config: ListenerConfig; server: Server; context: ListenerContext }

/**
 * The layer-4 proxy: its listeners, the current generation of routes, the connection
 * tracker and the metrics. `reload()` swaps the generation for new connections; a
 * connection keeps the generation it was accepted under, so established ones are untouched.
 *
 * @example
 * const proxy = await ProxyServer.start(loadConfigFile('proxy.yaml'));
 * process.on('SIGTERM', () => void proxy.shutdown());
 */
export class ProxyServer {
  readonly tracker: ConnectionTracker;
  /** Every event's metric and log line (telemetry.ts). */
  readonly telemetry: ProxyTelemetry;
  readonly certificates: CertificateStore;
  #config: ProxyConfig;
  #generation: Generation;
  readonly #listeners = new Map<string, LiveListener>();
  /** Replaced generations, until their sites' last connection is gone and their upstreams closed. */
  readonly #retiring = new Set<Generation>();
  readonly #clock: Clock;
  /** The ACME manager of the current config's `acme:` certificates (a reload that changes them replaces it). */
  readonly #acme: AcmeRef = { current: undefined };
  readonly #acmeTelemetry: AcmeTelemetry;
  #reusePort = false; // each listener its own SO_REUSEPORT socket, beside other workers' (workerBalance)

  private constructor(config: ProxyConfig, logger: Logger | undefined, clock: Clock, events: EventEmitter<ProxyEvents> | undefined) {
    this.#config = config;
    this.#clock = clock;
    this.tracker = new ConnectionTracker(config.limits, clock);
    this.telemetry = new ProxyTelemetry(this.tracker, logger, clock, events);
    this.certificates = new CertificateStore(config.certificates, config.tls.minVersion);
    this.#acmeTelemetry = new AcmeTelemetry(this.certificates, this.telemetry.l4.registry, logger);
    this.#generation = this.#generationOf(config);
  }

  /** The ACME manager, when the config has `acme:` certificates. */
  get acme(): AcmeManager | undefined {
    return this.#acme.current;
  }

  /** The layer-4 metrics, whose registry holds every proxy metric (admin /metrics). */
  get metrics(): ProxyMetrics {
    return this.telemetry.l4;
  }

  get httpMetrics(): HttpMetrics {
    return this.telemetry.http;
  }

  /** `clock`: the drain deadline and the health checks' timers (a fake one in tests). */
  static async start(config: ProxyConfig, { logger, clock = systemClock, events, reusePort = false, limitBroker }: { logger?: Logger; clock?: Clock; events?: EventEmitter<ProxyEvents>; reusePort?: boolean; limitBroker?: LimitBroker } = {}): Promise<ProxyServer> {
    const proxy = new ProxyServer(config, logger, clock, events);
    proxy.#reusePort = reusePort;
    // Limits over instances (Redis), or a worker's over every worker (its supervisor).
    const redisLimits = config.limits.redis === undefined || limitBroker !== undefined ? undefined : new RedisLimits(config.limits.redis, clock, logger);
    if (redisLimits !== undefined) logger?.info({ instance: redisLimits.instance }, 'limits shared through Redis');
    proxy.tracker.broker = limitBroker ?? redisLimits;
    try {
      // Stored certificates are served from the first handshake; orders start once the
      // listeners that answer their challenges are up.
      await proxy.telemetry.useAccessLog(config.accessLog);
      proxy.#useAcme(await openAcme(config, clock, proxy.#acmeTelemetry));
      for (const listener of config.listeners) await proxy.#listen(listener);
      proxy.acme?.start();
    } catch (err) {
      await proxy.#closeListeners([...proxy.#listeners.values()]);
      await proxy.#stop();
      throw err;
    }
    return proxy;
  }

  /** Opens the access log's file again, after logrotate moved it (SIGUSR1 in the CLI). */
  reopenLogs(): void {
    this.telemetry.reopenAccessLog();
  }

  /** Reads the certificates and keys again (after a renewal): new handshakes use them. */
  reloadCertificates(): void {
    this.certificates.reload();
  }

  get config(): ProxyConfig {
    return this.#config;
  }

  get listeners(): BoundListener[] {
    return [...this.#listeners.values()].map(({ context, config }) => ({ name: context.name, host: config.host, port: context.port }));
  }

  /**
   * Applies a new config: new connections use its routes, timeouts and limits; listeners
   * it no longer has stop accepting (their connections go on); new ones start. If a new
   * listener cannot bind, the error is thrown and nothing else changes.
   */
  async reload(config: ProxyConfig): Promise<void> {
    const log = await this.telemetry.prepareAccessLog(config.accessLog); // a file that cannot be opened refuses the reload here
    try {
      await this.#apply(config);
    } catch (err) {
      await log.abort();
      throw err;
    }
    await log.commit();
  }

  async #apply(config: ProxyConfig): Promise<void> {
    const previous = this.#config.certificates;
    // A changed acme: section gets a new manager, loaded before anything changes (a directory
    // that cannot be reached refuses the reload), and started once the new config is applied.
    const acmeChanged = acmeKey(config) !== acmeKey(this.#config);
    const acme = acmeChanged ? await openAcme(config, this.#clock, this.#acmeTelemetry) : this.acme;
    try {
      this.certificates.reload(config.certificates); // throws before anything changes when a file is bad
    } catch (err) {
      if (acmeChanged) await acme?.close();
      throw err;
    }
    if (acmeChanged) {
      const old = this.acme;
      this.#useAcme(acme);
      await old?.close();
      acme?.start();
    }
    let generation: Generation;
    try {
      generation = this.#generationOf(config);
    } catch (err) {
      this.certificates.reload(previous);
      throw err;
    }
    const wanted = new Map(config.listeners.map((listener) => [keyOf(listener), listener]));
    const added: LiveListener[] = [];
    try {
      for (const [key, listener] of wanted) if (!this.#listeners.has(key)) added.push(await this.#listen(listener));
    } catch (err) {
      await this.#closeListeners(added);
      await closeGeneration(generation);
      this.certificates.reload(previous);
      throw err;
    }
    const removed = [...this.#listeners.values()].filter((live) => !wanted.has(live.key));
    await this.#closeListeners(removed);
    // Kept listeners take the new listener settings (trusted PROXY peers) for new connections.
    for (const live of this.#listeners.values()) {
      const listener = wanted.get(live.key)!;
      live.config = listener;
      live.context = contextOf(listener, live.context.port);
    }
    const old = this.#generation;
    this.#config = config;
    this.#generation = generation;
    this.tracker.setLimits(config.limits);
    // Old sites close their idle keep-alive connections now and busy ones after their response;
    // then the old upstreams' pools and health checks stop.
    this.#retiring.add(old);
    void retireGeneration(old).then(() => this.#retiring.delete(old));
  }

  /** Sockets open to upstreams across every HTTP pool, retiring generations' included (admin /connections). */
  upstreamSockets(): number {
    let open = 0;
    for (const generation of [this.#generation, ...this.#retiring]) for (const upstream of generation.upstreams.values()) open += upstream.openSockets;
    return open;
  }

  /**
   * Stops accepting, lets open connections finish for up to `drainMs`, then ends the rest.
   * Resolves once every connection is closed. A second call gets the first one's outcome.
   */
  shutdown(drainMs = this.#config.shutdown.drainMs): Promise<{ drained: boolean; destroyed: number }> {
    return this.#shutdown ??= this.#drainAndStop(drainMs);
  }

  #shutdown: Promise<{ drained: boolean; destroyed: number }> | undefined;

  async #drainAndStop(drainMs: number): Promise<{ drained: boolean; destroyed: number }> {
    await this.#closeListeners([...this.#listeners.values()]);
    // Idle keep-alive connections first (fastify's order): they have nothing to finish.
    for (const site of this.#generation.sites.values()) site.drain();
    let cancel = () => {};
    const deadline = new Promise<false>((resolve) => { cancel = this.#clock.schedule(() => resolve(false), drainMs, { ref: true }); });
    const drained = await Promise.race([this.tracker.whenIdle().then(() => true as const), deadline]);
    cancel();
    let destroyed = 0;
    if (!drained) {
      for (const record of [...this.tracker.records()]) {
        destroyed++;
        record.abort?.('shutdown');
      }
      await this.tracker.whenIdle();
    }
    await this.#stop();
    return { drained, destroyed };
  }

  /**
   * The `limit` oldest open connections, oldest first, for the admin API. The tracker keeps
   * records in the order they were opened, so no sort is needed.
   */
  connections(limit = Infinity, now = performance.now()): ConnectionSummary[] {
    const out: ConnectionSummary[] = [];
    for (const record of this.tracker.records()) {
      if (out.length >= limit) break;
      out.push(summarize(record, now));
    }
    return out;
  }

  /** Serves `acme`'s certificates from now on, and each new one it obtains or loads. */
  #useAcme(acme: AcmeManager | undefined): void {
    this.#acme.current = acme;
    this.certificates.useAcme(acme);
    const reload = () => this.certificates.reload();
    acme?.on('issued', reload).on('loaded', reload);
  }

  async #stop(): Promise<void> {
    await this.#acme.current?.close();
    await closeGeneration(this.#generation);
    await Promise.all([...this.#retiring].map((generation) => closeGeneration(generation)));
    this.tracker.stop();
    await this.tracker.broker?.close?.();
    await this.telemetry.useAccessLog(undefined); // its last lines written
  }

  #generationOf(config: ProxyConfig): Generation {
    return buildGeneration(config, { certificates: this.certificates, telemetry: this.telemetry, clock: this.#clock, acme: this.#acme });
  }

  async #listen(listener: ListenerConfig): Promise<LiveListener> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: false, noDelay: true });
    const live: LiveListener = { key: keyOf(listener), config: listener, server, context: contextOf(listener, listener.port) };
    server.on('connection', (socket) => {
      const connection = L4Connection.accept(socket, live.context, this.#generation, this.tracker, this.telemetry);
      if (connection !== undefined) this.telemetry.opened(live.context.name, socket);
    });
    server.on('error', (err) => this.telemetry.listenerError(live.context.name, err));
    server.listen({ host: listener.host, port: listener.port, backlog: listener.backlog, ...(this.#reusePort ? { reusePort: true, exclusive: true } : {}) });
    await Promise.race([once(server, 'listening'), once(server, 'error').then(([err]) => { throw err as Error; })]);
    const port = (server.address() as { port: number }).port;
    live.context = contextOf(listener, port);
    this.#listeners.set(live.key, live);
    this.telemetry.listening(live.context.name, listener.host, port);
    return live;
  }

  /**
   * Stops accepting on each listener. Not awaiting the server's 'close' event: Node emits it
   * only once every connection the server accepted has ended, and those are the tracker's
   * to drain, or to leave running on a reload.
   */
  async #closeListeners(lives: LiveListener[]): Promise<void> {
    for (const live of lives) {
      this.#listeners.delete(live.key);
      if (!live.server.listening) continue;
      live.server.close();
      this.telemetry.listenerClosed(live.context.name);
    }
    await new Promise((resolve) => setImmediate(resolve)); // the listening sockets' handles close on this turn
  }
}

function keyOf(listener: ListenerConfig): string {
  return `${listener.host}:${listener.port}`;
}

function contextOf(listener: ListenerConfig, port: number): ListenerContext {
  return {
    name: listenerName(listener),
    port,
    trusted: listener.proxyProtocol === undefined ? undefined : new CidrSet(listener.proxyProtocol.trusted),
  };
}
