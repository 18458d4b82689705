import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { redactConfig } from './config/config.js';
import { hostName } from '../http/host-names.js';
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
