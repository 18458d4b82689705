import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { checkConfigFiles } from '@holdfast/proxy/internal/proxy/tls/certificate-store.js';
import { loadConfigFile } from '@holdfast/proxy/internal/proxy/config/config-loader.js';
import { ProxyRuntime } from '@holdfast/proxy/internal/proxy/runtime.js';
import { UsageError, untilSignal } from './cli-error.js';
import { configJsonSchemaText } from './config-schemas.js';
import { isProxyWorker, runProxyWorker, workerCount } from '@holdfast/proxy/internal/proxy/workers/worker.js';
import { WorkerSupervisor } from '@holdfast/proxy/internal/proxy/workers/supervisor.js';

export const PROXY_HELP = `Usage: holdfast proxy --config FILE [options]

A socket-safe proxy: TCP forwarding and TLS passthrough routed by SNI, TLS
termination (certificates from files, or obtained and renewed by ACME), HTTP/2
toward clients, and an HTTP reverse proxy over pooled keep-alive upstreams (with
replay, retries on another target, outlier ejection and health checks, per-route
rewrites and per-client rate limits), with per-connection tracking, limits,
timeouts and an admin API.

Options:
  --config FILE          the YAML or JSON config (see examples/proxy.yaml, docs/reference/proxy.md)
  --check                validate the config, print a summary and exit
  --print-schema         print the config file's JSON Schema (also in the package's
                         schemas/proxy.schema.json, for editors) and exit
  --log-level LEVEL      fatal, error, warn, info (default) or debug; logs are
                         JSON lines on stdout
  -h, --help             show this help

The config is reloaded when the file changes and on SIGHUP: new connections use the
new routes, established ones are untouched (idle HTTP keep-alive connections are
closed so that clients reconnect to the new routes), and an invalid file keeps the
running config (the reason is logged). Certificate and key files are reloaded when
they change, without a restart; ACME certificates are renewed at two thirds of
their lifetime, or when the CA's renewal window says so. SIGUSR1 reopens the
access log file (accessLog.output) after a rotation. SIGTERM or SIGINT stops
accepting (HTTP/2 clients get a GOAWAY), lets connections drain for
shutdown.drainMs, ends the rest and exits 0.

With workers: N (or auto) in the config, this process supervises N worker processes
on the same listeners: it restarts a crashed one, reloads by starting new workers
before the old ones drain, counts the connection limits over all of them, and serves
the admin API for all (docs/reference/proxy.md#workers). Signals go to it.`;

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug'];

export async function runProxy(args: string[], out: (line: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { config: { type: 'string' }, check: { type: 'boolean' }, 'log-level': { type: 'string' }, 'print-schema': { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (values.help === true) {
    out(PROXY_HELP);
    return 0;
  }
  if (values['print-schema'] === true) {
    out(configJsonSchemaText('proxy').trimEnd());
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}" (see holdfast proxy --help)`);
  if (values.config === undefined) throw new UsageError('--config FILE is required (see holdfast proxy --help)');
  const level = values['log-level'] ?? 'info';
  if (!LEVELS.includes(level)) throw new UsageError(`--log-level expects one of ${LEVELS.join(', ')}, got "${level}"`);
  const file = resolve(values.config);
  // A worker serves the config its supervisor validated, sent over IPC, not the file as it is now.
  if (isProxyWorker()) return runProxyWorker(file, pino({ level, base: { pid: process.pid } }).child({ role: 'worker' }));
  const config = await loadConfigFile(file);
  if (values.check === true) {
    const certificates = checkConfigFiles(config);
    out(`${values.config}: valid: ${config.listeners.length} listener(s), ${config.upstreams.length} upstream(s), ${config.routes.length} route(s), ${config.certificates.length} certificate(s)${config.workers === 1 ? '' : `, ${workerCount(config)} workers (${config.workerBalance})`}`);
    for (const c of certificates) out(`  certificate ${c.certFile}: ${c.hosts.join(', ')} (until ${c.notAfter})${c.default ? ' default' : ''}`);
    for (const c of config.certificates) if ('acme' in c) out(`  certificate acme:${c.acme.domains.join(', ')}: ${c.acme.challenge} from ${c.acme.directory} (obtained when the proxy starts)${c.default ? ' default' : ''}`);
    return 0;
  }
  const logger = pino({ level, base: { pid: process.pid } });
  if (workerCount(config) > 1) return supervise(file, config, logger, ['proxy', '--config', file, '--log-level', level]);
  const stopped = untilSignal(); // before readiness is announced: a supervisor may signal at once
  const runtime = await ProxyRuntime.start(file, config, { logger });
  const signal = await serveUntil(stopped, () => void runtime.reload('SIGHUP'), () => runtime.proxy.reopenLogs());
  logger.info({ signal, active: runtime.proxy.tracker.active, drainMs: runtime.proxy.config.shutdown.drainMs }, 'shutting down: no new connections, draining');
  const { drained, destroyed } = await runtime.stop();
  logger.info({ drained, destroyed }, 'stopped');
  return 0;
}

/** `workers: N` (N > 1): this process supervises the workers that serve (proxy/workers/supervisor.ts). */
async function supervise(file: string, config: Awaited<ReturnType<typeof loadConfigFile>>, logger: Logger, args: string[]): Promise<number> {
  const stopped = untilSignal();
  const supervisor = await WorkerSupervisor.start(file, config, { logger: logger.child({ role: 'supervisor' }), args });
  const signal = await serveUntil(stopped, () => void supervisor.reload('SIGHUP'), () => supervisor.reopenLogs());
  logger.info({ signal, workers: supervisor.workers().length }, 'shutting down: every worker drains');
  await supervisor.stop();
  logger.info('stopped');
  return 0;
}

/**
 * Reloads on SIGHUP and reopens the access log on SIGUSR1 (as nginx's USR1: logrotate moved it
 * away; Node's inspector no longer starts on it) until `stopped` resolves with SIGTERM or SIGINT.
 */
async function serveUntil(stopped: Promise<NodeJS.Signals>, onHup: () => void, onUsr1: () => void): Promise<NodeJS.Signals> {
  process.on('SIGHUP', onHup);
  process.on('SIGUSR1', onUsr1);
  try {
    return await stopped;
  } finally {
    process.off('SIGHUP', onHup);
    process.off('SIGUSR1', onUsr1);
  }
}
