import type { EventEmitter } from 'node:events';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { systemClock, type Clock } from 'holdfast/internal/clock.js';
import { ProxyConfigError } from 'holdfast/internal/errors.js';
import { adminToken, adminUrlOf, listenAdmin, proxyAdminView } from './admin-server.js';
import { ConfigWatcher, loadConfigFile } from './config/config-loader.js';
import type { ProxyConfig } from './config/config.js';
import { ProxyServer } from './proxy-server.js';
import type { LimitBroker } from '../net/connection-tracker.js';
import type { ProxyEvents } from './telemetry.js';

/**
 * The proxy as it runs from a config file, for the CLI and the library alike: the server,
 * its admin endpoint, and reloads on a change of the file (or `reload()`, which the CLI
 * calls on SIGHUP) and of any certificate or key file it names.
 *
 *   start(file) ─▶ listening ─▶ file changed / reload() ─▶ load + validate ─▶ apply, or keep the running one
 *                     │          certificate changed ─────▶ reload certificates, or keep the running ones
 *                     ▼
 *                   stop() ─▶ watchers closed ─▶ drain (shutdown.drainMs) ─▶ admin closed
 *
 * @example
 * const runtime = await ProxyRuntime.start('proxy.yaml', await loadConfigFile('proxy.yaml'), { logger });
 * await runtime.stop();
 */
export class ProxyRuntime {
  readonly proxy: ProxyServer;
  readonly #file: string;
  readonly #logger: Logger;
  #admin: FastifyInstance | undefined;
  /** The config file's watcher; a worker has none (its supervisor watches, and starts new workers). */
  readonly #watcher: ConfigWatcher | undefined;
  readonly #certificates: CertificateWatchers;
  readonly #reload: (why: string) => Promise<void>;
  #stopping = false;

  private constructor(file: string, proxy: ProxyServer, logger: Logger, clock: Clock, watch: boolean) {
    this.#file = file;
    this.proxy = proxy;
    this.#logger = logger;
    this.#certificates = new CertificateWatchers(proxy, clock);
    this.#reload = reloader(file, proxy, () => this.#certificates.watch());
    this.#watcher = watch ? new ConfigWatcher(file, () => void this.#reload('file change'), undefined, clock) : undefined;
  }

  /**
   * Starts the proxy from `config` (loaded from `file`, which is watched), with its admin endpoint
   * when configured. A `worker` (workers/worker.ts) neither watches the file nor serves the admin
   * API: its supervisor does both.
   */
  static async start(file: string, config: ProxyConfig, { logger, clock = systemClock, events, worker }: { logger: Logger; clock?: Clock; events?: EventEmitter<ProxyEvents>; worker?: { reusePort: boolean; limitBroker: LimitBroker | undefined } }): Promise<ProxyRuntime> {
    const token = adminToken(config);
    const proxy = await ProxyServer.start(config, { logger, clock, ...(events === undefined ? {} : { events }), ...(worker === undefined ? {} : { reusePort: worker.reusePort, ...(worker.limitBroker === undefined ? {} : { limitBroker: worker.limitBroker }) }) });
    const runtime = new ProxyRuntime(file, proxy, logger, clock, worker === undefined);
    if (config.admin !== undefined && worker === undefined) {
      runtime.#admin = await listenAdmin(proxyAdminView(proxy), config.admin, token, () => runtime.#stopping).catch(async (err: unknown) => {
        await runtime.stop(); // the admin port is taken: nothing of this runtime stays behind
        throw err;
      });
      logger.info({ admin: runtime.adminUrl, auth: token !== undefined }, 'admin listening');
    }
    logger.info({ listeners: proxy.listeners, routes: config.routes.length }, 'proxy ready');
    return runtime;
  }

  /** The admin API's base URL, once it listens (undefined without `admin:`). */
  get adminUrl(): string | undefined {
    return adminUrlOf(this.#admin);
  }

  /** The config file as it was last read. */
  get file(): string {
    return this.#file;
  }

  /** Reads the file again and applies it, one reload at a time; an invalid file keeps the running config. */
  reload(why = 'reload()'): Promise<void> {
    return this.#reload(why);
  }

  /** Stops watching, drains (`drainMs`, default shutdown.drainMs), then closes the admin endpoint. */
  async stop(drainMs?: number): Promise<{ drained: boolean; destroyed: number }> {
    this.#stopping = true;
    this.#watcher?.close();
    this.#certificates.close();
    const result = await this.proxy.shutdown(drainMs);
    await this.#admin?.close();
    this.#logger.debug({ file: this.#file }, 'runtime stopped');
    return result;
  }
}

/**
 * Loads a config and applies it to `proxy`, saying either outcome (telemetry: a log line, the
 * reloads metric and the library's `reload` event). Rejects with the error when it was
 * refused; the running config then stays. The file reloader and createProxy's reload(config)
 * both go through it.
 */
export async function applyConfig(proxy: ProxyServer, why: string, load: () => ProxyConfig | Promise<ProxyConfig>): Promise<void> {
  let next: ProxyConfig;
  try {
    next = await load();
  } catch (err) {
    proxy.telemetry.reloadRefused(why, 'load', err instanceof ProxyConfigError ? err.message : String(err));
    throw err;
  }
  try {
    await proxy.reload(next);
  } catch (err) {
    proxy.telemetry.reloadRefused(why, 'apply', (err as Error).message);
    throw err;
  }
  proxy.telemetry.reloaded(why, { listeners: proxy.listeners, routes: next.routes.length });
}

/** Reloads one at a time; a change that arrives mid-reload is applied after it. */
function reloader(file: string, proxy: ProxyServer, onApplied: () => void): (why: string) => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  const once = (why: string): Promise<void> => applyConfig(proxy, why, () => loadConfigFile(file)).then(onApplied, () => {});
  return async (why) => {
    if (running !== undefined) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await once(why);
      } while (again);
    })().finally(() => { running = undefined; });
    return running;
  };
}

/**
 * Watches the certificate and key files of the running config: a renewal (a file replaced
 * or rewritten) reloads them, and an unreadable or mismatched pair keeps the running ones.
 */
class CertificateWatchers {
  readonly #proxy: ProxyServer;
  #watchers: ConfigWatcher[] = [];

  readonly #clock: Clock;

  constructor(proxy: ProxyServer, clock: Clock) {
    this.#proxy = proxy;
    this.#clock = clock;
    this.watch();
  }

  /** (Re)starts watching the current config's files. */
  watch(): void {
    this.close();
    this.#watchers = [...new Set(this.#proxy.certificates.files)].map((file) => new ConfigWatcher(file, () => this.#reload(file), undefined, this.#clock));
  }

  #reload(file: string): void {
    try {
      this.#proxy.reloadCertificates();
      this.#proxy.telemetry.certificatesReloaded(file, this.#proxy.certificates.summaries());
    } catch (err) {
      this.#proxy.telemetry.certificatesRefused(file, (err as Error).message);
    }
  }

  close(): void {
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers = [];
  }
}
