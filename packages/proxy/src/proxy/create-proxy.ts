import { EventEmitter } from 'node:events';
import { pino, type Logger } from 'pino';
import type { Clock } from 'holdfast/internal/clock.js';
import { loadConfigFile, parseConfig } from './config/config-loader.js';
import type { ProxyConfig, ProxyConfigInput } from './config/config.js';
import { ProxyConfigError } from 'holdfast/internal/errors.js';
import { ProxyServer, type BoundListener } from './proxy-server.js';
import { applyConfig, ProxyRuntime } from './runtime.js';
import type { ProxyEvents } from './telemetry.js';

export type { ProxyEvents } from './telemetry.js';

/** Where the proxy's config comes from: a file (watched, as the CLI does), or an object (reloaded by `reload(config)`). */
export type ProxySource = { file: string } | { config: ProxyConfigInput };

/**
 * The proxy as a library, with the CLI's behaviour: `createProxy({ file })` watches the file
 * and every certificate it names, reloading on a change (and on `reload()`), as
 * `holdfast proxy --config FILE` does; `createProxy({ config })` takes the config as an
 * object, typed from the schema (`ProxyConfigInput`), and `reload(config)` applies a new one.
 * Either validates at `start()` (a ProxyConfigError names the field) and drains on `drain()`.
 *
 * Events: `connection` (a client connection accepted), `request` (an HTTP request answered:
 * route, status, target), `reload` (applied, or refused with the reason), `error` (a listener
 * failed after binding). `request` and `connection` cost nothing while no one listens.
 *
 * @example
 * const proxy = createProxy({ file: 'proxy.yaml' }, { logger });
 * await proxy.start();
 * process.on('SIGHUP', () => void proxy.reload());
 * process.on('SIGTERM', () => void proxy.drain());
 */
export class HoldfastProxy extends EventEmitter<ProxyEvents> {
  readonly #source: ProxySource;
  readonly #logger: Logger | undefined;
  readonly #clock: Clock | undefined;
  #runtime: ProxyRuntime | undefined;
  #server: ProxyServer | undefined;

  constructor(source: ProxySource, { logger, clock }: { logger?: Logger; clock?: Clock } = {}) {
    super();
    this.#source = source;
    this.#logger = logger;
    this.#clock = clock;
  }

  /** Validates the config, binds every listener (and the admin API), and resolves with the bound listeners. */
  async start(): Promise<BoundListener[]> {
    if (this.#server !== undefined) throw new Error('this proxy has started already');
    const options = { ...(this.#logger === undefined ? {} : { logger: this.#logger }), ...(this.#clock === undefined ? {} : { clock: this.#clock }), events: this };
    if ('file' in this.#source) {
      const config = inProcess(await loadConfigFile(this.#source.file), this.#source.file);
      this.#runtime = await ProxyRuntime.start(this.#source.file, config, { ...options, logger: this.#logger ?? pino({ enabled: false }) });
      this.#server = this.#runtime.proxy;
    } else {
      this.#server = await ProxyServer.start(inProcess(parseConfig(this.#source.config), 'config'), options);
    }
    return this.#server.listeners;
  }

  /** Reads the file again (file mode), or applies `config` (object mode). A config that fails validation keeps the running one, and says why in a `reload` event. */
  async reload(config?: ProxyConfigInput): Promise<void> {
    const server = this.#started();
    if (this.#runtime !== undefined) return this.#runtime.reload('reload()');
    if (config === undefined) throw new Error('reload(config): a proxy made from a config object needs the new config');
    await applyConfig(server, 'reload()', () => parseConfig(config));
  }

  /** Stops accepting, lets open connections finish for up to `drainMs` (the config's `shutdown.drainMs`), then ends the rest. */
  drain(drainMs?: number): Promise<{ drained: boolean; destroyed: number }> {
    const server = this.#started();
    return this.#runtime === undefined ? server.shutdown(drainMs) : this.#runtime.stop(drainMs);
  }

  /** Opens the access log file again, after a rotation moved it (the CLI does this on SIGUSR1). */
  reopenLogs(): void {
    this.#started().reopenLogs();
  }

  /** Ends every connection now. */
  async close(): Promise<void> {
    await this.drain(0);
  }

  /** The bound listeners (a configured port 0 is the port the OS chose). */
  get addresses(): BoundListener[] {
    return this.#started().listeners;
  }

  /** The admin API's URL (file mode with `admin:`). */
  get adminUrl(): string | undefined {
    return this.#runtime?.adminUrl;
  }

  /** The running server: metrics, certificates, connections. */
  get server(): ProxyServer {
    return this.#started();
  }

  #started(): ProxyServer {
    if (this.#server === undefined) throw new Error('call start() first');
    return this.#server;
  }
}

/**
 * The library serves in the calling process: `workers` is for `holdfast proxy`, whose
 * supervisor forks them. Asked of the library, it is refused rather than silently ignored.
 */
function inProcess(config: ProxyConfig, source: string): ProxyConfig {
  if (config.workers === 1) return config;
  throw new ProxyConfigError(source, 'workers', `createProxy() serves in this process: workers: ${config.workers} is for holdfast proxy (its supervisor forks them), or start createProxy() in cluster workers of your own`);
}

export function createProxy(source: ProxySource, options: { logger?: Logger; clock?: Clock } = {}): HoldfastProxy {
  return new HoldfastProxy(source, options);
}
