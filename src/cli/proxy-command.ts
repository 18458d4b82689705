import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { ProxyConfigError } from '../errors.js';
import { buildAdminApp } from '../proxy/admin-server.js';
import { checkConfigFiles } from '../proxy/tls/certificate-store.js';
import { ConfigWatcher, loadConfigFile } from '../proxy/config/config-loader.js';
import type { ProxyConfig } from '../proxy/config/config.js';
import { ProxyServer } from '../proxy/proxy-server.js';
import { UsageError, untilSignal } from './cli-error.js';

export const PROXY_HELP = `Usage: holdfast proxy --config FILE [options]

A socket-safe proxy: TCP forwarding and TLS passthrough routed by SNI, TLS
termination, and an HTTP reverse proxy over pooled keep-alive upstreams (with
replay, retries on another target, outlier ejection and health checks), with
per-connection tracking, limits, timeouts and an admin API.

Options:
  --config FILE          the YAML or JSON config (see examples/proxy.yaml, docs/proxy.md)
  --check                validate the config, print a summary and exit
  --log-level LEVEL      fatal, error, warn, info (default) or debug; logs are
                         JSON lines on stdout
  -h, --help             show this help

The config is reloaded when the file changes and on SIGHUP: new connections use the
new routes, established ones are untouched (idle HTTP keep-alive connections are
closed so that clients reconnect to the new routes), and an invalid file keeps the
running config (the reason is logged). Certificate and key files are reloaded when
they change, without a restart. SIGTERM or SIGINT stops accepting, lets connections
drain for shutdown.drainMs, ends the rest and exits 0.`;

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug'];

export async function runProxy(args: string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: 'string' }, check: { type: 'boolean' }, 'log-level': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help === true) {
    out(PROXY_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (see holdfast proxy --help)`);
  if (values.config === undefined) throw new UsageError('--config FILE is required (see holdfast proxy --help)');
  const level = values['log-level'] ?? 'info';
  if (!LEVELS.includes(level)) throw new UsageError(`--log-level expects one of ${LEVELS.join(', ')}, got "${level}"`);
  const file = resolve(values.config);
  const config = await loadConfigFile(file);
  if (values.check === true) {
    const certificates = checkConfigFiles(config);
    out(`${values.config}: valid: ${config.listeners.length} listener(s), ${config.routes.length} route(s), ${certificates.length} certificate(s)`);
    for (const c of certificates) out(`  certificate ${c.certFile}: ${c.hosts.join(', ')} (until ${c.notAfter})${c.default ? ' default' : ''}`);
    return 0;
  }
  const stopped = untilSignal(); // before readiness is announced: a supervisor may signal at once
  const logger = pino({ level, base: { pid: process.pid } });
  const token = adminToken(config);
  const proxy = await ProxyServer.start(config, { logger });
  let stopping = false;
  const admin = config.admin === undefined ? undefined : buildAdminApp(proxy, { token, isStopping: () => stopping });
  if (admin !== undefined && config.admin !== undefined) {
    await admin.listen({ host: config.admin.host, port: config.admin.port });
    logger.info({ admin: `http://${hostForUrl(config.admin.host)}:${(admin.server.address() as { port: number }).port}`, auth: token !== undefined }, 'admin listening');
  }
  const certificateWatchers = new CertificateWatchers(proxy, logger);
  const reload = reloader(file, proxy, logger, () => certificateWatchers.watch());
  const watcher = new ConfigWatcher(file, () => void reload('file change'));
  const onHup = () => void reload('SIGHUP');
  process.on('SIGHUP', onHup);
  logger.info({ listeners: proxy.listeners, routes: config.routes.length }, 'proxy ready');

  const signal = await stopped;
  stopping = true;
  watcher.close();
  certificateWatchers.close();
  process.off('SIGHUP', onHup);
  logger.info({ signal, active: proxy.tracker.active, drainMs: proxy.config.shutdown.drainMs }, 'shutting down: no new connections, draining');
  const { drained, destroyed } = await proxy.shutdown();
  await admin?.close();
  logger.info({ drained, destroyed }, 'stopped');
  return 0;
}

/** Reloads one at a time; a change that arrives mid-reload is applied after it. */
function reloader(file: string, proxy: ProxyServer, logger: Logger, onApplied: () => void): (why: string) => Promise<void> {
  let running: Promise<void> | undefined;
  let again = false;
  const once = async (why: string): Promise<void> => {
    let next: ProxyConfig;
    try {
      next = await loadConfigFile(file);
    } catch (err) {
      proxy.metrics.reloaded('invalid');
      logger.error({ why, error: err instanceof ProxyConfigError ? err.message : String(err) }, 'config reload refused; the running config stays');
      return;
    }
    try {
      await proxy.reload(next);
      proxy.metrics.reloaded('applied');
      onApplied();
      logger.info({ why, listeners: proxy.listeners, routes: next.routes.length }, 'config reloaded');
    } catch (err) {
      proxy.metrics.reloaded('invalid');
      logger.error({ why, error: (err as Error).message }, 'config reload failed; the running config stays');
    }
  };
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
  readonly #logger: Logger;
  #watchers: ConfigWatcher[] = [];

  constructor(proxy: ProxyServer, logger: Logger) {
    this.#proxy = proxy;
    this.#logger = logger;
    this.watch();
  }

  /** (Re)starts watching the current config's files. */
  watch(): void {
    this.close();
    this.#watchers = [...new Set(this.#proxy.certificates.files)].map((file) => new ConfigWatcher(file, () => this.#reload(file)));
  }

  #reload(file: string): void {
    try {
      this.#proxy.reloadCertificates();
      this.#logger.info({ file, certificates: this.#proxy.certificates.summaries() }, 'certificates reloaded');
    } catch (err) {
      this.#logger.error({ file, error: (err as Error).message }, 'certificate reload refused; the running certificates stay');
    }
  }

  close(): void {
    for (const watcher of this.#watchers) watcher.close();
    this.#watchers = [];
  }
}

function adminToken(config: ProxyConfig): string | undefined {
  const admin = config.admin;
  if (admin?.tokenEnv === undefined) return admin?.token;
  const value = process.env[admin.tokenEnv];
  if (value === undefined || value.length < 16) throw new ProxyConfigError('environment', 'admin.tokenEnv', `${admin.tokenEnv} must hold a token of at least 16 characters`);
  return value;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
