import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { redactConfig, type ProxyConfig } from './config/config.js';
import { hostName, isLoopbackAddress, LOOPBACK_HOSTS } from 'holdfast/internal/http/host-names.js';
import { ProxyConfigError } from 'holdfast/internal/errors.js';
import type { ProxyServer } from './proxy-server.js';

const MAX_LIST = 10_000;

/**
 * What the admin API shows: one proxy process (`proxyAdminView`), or a supervisor's workers
 * together (workers/supervisor.ts).
 */
export interface AdminView {
  /** Connections open now (the health check's figure). */
  active(): number | Promise<number>;
  metrics(): Promise<{ contentType: string; text: string }>;
  connections(limit: number): unknown;
  config(): unknown;
  /** The worker processes, when there are several. */
  workers?(): unknown;
}

/** The admin view of one proxy process. */
export function proxyAdminView(proxy: ProxyServer): AdminView {
  const registry = proxy.metrics.registry;
  return {
    active: () => proxy.tracker.active,
    metrics: async () => ({ contentType: registry.contentType, text: await registry.metrics() }),
    connections: (limit) => connectionsOf(proxy, limit),
    config: () => redactConfig(proxy.config),
  };
}

/** One process's /connections answer. */
export function connectionsOf(proxy: ProxyServer, limit: number) {
  const byState: Record<string, number> = {};
  const byRoute: Record<string, number> = {};
  for (const record of proxy.tracker.records()) {
    byState[record.state] = (byState[record.state] ?? 0) + 1;
    const route = record.route ?? 'none';
    byRoute[route] = (byRoute[route] ?? 0) + 1;
  }
  return { active: proxy.tracker.active, upstreamSockets: proxy.upstreamSockets(), byState, byRoute, ips: proxy.tracker.trackedIps, connections: proxy.connections(limit) };
}

/**
 * The proxy's admin API. It binds to loopback unless the config says otherwise (and then a
 * token is required), answers only the Host names of `admin.allowedHosts` (loopback names by
 * default), and with a token every route but /healthz wants `Authorization: Bearer <token>`.
 *
 *   GET /healthz        liveness: 200 while the proxy runs, 503 once it is shutting down
 *   GET /metrics        Prometheus text, holdfast_proxy_* (with workers: summed over them)
 *   GET /connections    { active, upstreamSockets, byState, byRoute, connections: [{ id, listener, client, route,
 *                       target, state, ageMs, bytesIn, bytesOut }] } (?limit=N, default 1000; with workers,
 *                       one such answer per worker under `workers`, and `active` their sum)
 *   GET /config         the active config, the token replaced by "[redacted]", file paths by their base names
 *   GET /workers        with workers: each one's id, pid, generation and state
 */
export function buildAdminApp(view: AdminView, { token, isStopping, allowedHosts }: { token?: string; isStopping: () => boolean; allowedHosts: readonly string[] }): FastifyInstance {
  // Idle admin connections are kept longer than common client pools keep theirs (holdfast's own rule).
  const app = Fastify({ logger: false, forceCloseConnections: true, keepAliveTimeout: 65_000 });
  const expected = token === undefined ? undefined : Buffer.from(`Bearer ${token}`);
  const hosts = new Set(allowedHosts);
  app.addHook('onRequest', (req, reply, done) => {
    // A browser page on a name that resolves here (DNS rebinding) sends that name: refused.
    if (!hosts.has(hostName(req.headers.host))) return void reply.code(403).send({ error: 'this host name is not allowed (admin.allowedHosts)' });
    if (expected === undefined || req.url === '/healthz') return done();
    const given = Buffer.from(req.headers.authorization ?? '');
    // Compared in constant time: the token is a secret.
    if (given.length === expected.length && timingSafeEqual(given, expected)) return done();
    void reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'a bearer token is required' });
  });
  app.get('/healthz', async (_req, reply) => (isStopping() ? reply.code(503).send({ status: 'stopping' }) : reply.send({ status: 'ok', active: await view.active() })));
  app.get('/metrics', async (_req, reply) => {
    const { contentType, text } = await view.metrics();
    return reply.type(contentType).send(text);
  });
  app.get<{ Querystring: { limit?: string } }>('/connections', (req) => view.connections(Math.min(MAX_LIST, Math.max(0, Number(req.query.limit ?? 1000) || 0))));
  app.get('/config', () => view.config());
  if (view.workers !== undefined) app.get('/workers', () => view.workers!());
  return app;
}

/**
 * The admin token, from the environment or the file. An admin API on a non-loopback address
 * without a token is refused (anyone on the network could read /connections and /config), and
 * so is one without `allowedHosts` (the loopback names would refuse every real client).
 */
export function adminToken(config: ProxyConfig): string | undefined {
  const admin = config.admin;
  if (admin === undefined) return undefined;
  let token = admin.token;
  if (admin.tokenEnv !== undefined) {
    token = process.env[admin.tokenEnv];
    if (token === undefined || token.length < 16) throw new ProxyConfigError('environment', 'admin.tokenEnv', `${admin.tokenEnv} must hold a token of at least 16 characters`);
  }
  if (!isLoopbackAddress(admin.host)) {
    if (token === undefined) throw new ProxyConfigError('config', 'admin.host', `${admin.host} is not a loopback address: set admin.tokenEnv (or admin.token), or bind the admin API to 127.0.0.1`);
    if (admin.allowedHosts === undefined) throw new ProxyConfigError('config', 'admin.allowedHosts', `${admin.host} is not a loopback address: list the host names clients use to reach the admin API`);
  }
  return token;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * The admin API for `view`, listening where `admin` says (the loopback names unless
 * `allowedHosts` says otherwise); closed again if it cannot listen, and the error thrown.
 */
export async function listenAdmin(view: AdminView, admin: NonNullable<ProxyConfig['admin']>, token: string | undefined, isStopping: () => boolean): Promise<FastifyInstance> {
  const app = buildAdminApp(view, { token, isStopping, allowedHosts: admin.allowedHosts ?? LOOPBACK_HOSTS });
  try {
    await app.listen({ host: admin.host, port: admin.port });
  } catch (err) {
    await app.close();
    throw err;
  }
  return app;
}

/** The admin API's base URL once it listens; undefined without one. */
export function adminUrlOf(app: FastifyInstance | undefined): string | undefined {
  const address = app?.server.address();
  return address === undefined || address === null || typeof address === 'string' ? undefined : `http://${hostForUrl(address.address)}:${address.port}`;
}
