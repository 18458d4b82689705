import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { redactConfig } from './config/config.js';
import { hostName } from '../http/host-names.js';
import type { ProxyServer } from './proxy-server.js';

const MAX_LIST = 10_000;

/**
 * The proxy's admin API. It binds to loopback unless the config says otherwise (and then a
 * token is required), answers only the Host names of `admin.allowedHosts` (loopback names by
 * default), and with a token every route but /healthz wants `Authorization: Bearer <token>`.
 *
 *   GET /healthz        liveness: 200 while the proxy runs, 503 once it is shutting down
 *   GET /metrics        Prometheus text, holdfast_proxy_*
 *   GET /connections    { active, upstreamSockets, byState, byRoute, connections: [{ id, listener, client, route,
 *                       target, state, ageMs, bytesIn, bytesOut }] } (?limit=N, default 1000)
 *   GET /config         the active config, the token replaced by "[redacted]", file paths by their base names
 */
export function buildAdminApp(proxy: ProxyServer, { token, isStopping, allowedHosts }: { token?: string; isStopping: () => boolean; allowedHosts: readonly string[] }): FastifyInstance {
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
  app.get('/healthz', (_req, reply) => (isStopping() ? reply.code(503).send({ status: 'stopping' }) : reply.send({ status: 'ok', active: proxy.tracker.active })));
  app.get('/metrics', async (_req, reply) => reply.type(proxy.metrics.registry.contentType).send(await proxy.metrics.registry.metrics()));
  app.get<{ Querystring: { limit?: string } }>('/connections', (req) => {
    const limit = Math.min(MAX_LIST, Math.max(0, Number(req.query.limit ?? 1000) || 0));
    const byState: Record<string, number> = {};
    const byRoute: Record<string, number> = {};
    for (const record of proxy.tracker.records()) {
      byState[record.state] = (byState[record.state] ?? 0) + 1;
      const route = record.route ?? 'none';
      byRoute[route] = (byRoute[route] ?? 0) + 1;
    }
    return { active: proxy.tracker.active, upstreamSockets: proxy.upstreamSockets(), byState, byRoute, ips: proxy.tracker.trackedIps, connections: proxy.connections(limit) };
  });
  app.get('/config', () => redactConfig(proxy.config));
  return app;
}
