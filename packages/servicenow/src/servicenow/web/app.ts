import { readFileSync } from 'node:fs';
import Fastify, { type FastifyInstance } from 'fastify';
import type { DashboardSource } from '../dashboard-source.js';
import { systemClock, type Clock } from 'holdfast/internal/clock.js';
import { EventStream } from './event-stream.js';
import { renderDashboard } from './dashboard-page.js';
import { accessHook, LOOPBACK_HOSTS, type AccessOptions } from './access.js';

const ASSETS = new URL('../../../assets/', import.meta.url);
const asset = (name: string) => readFileSync(new URL(name, ASSETS));
const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};
const MAX_LIST = 500;

/**
 * A client on this machine, not a client of a reverse proxy on this machine: a proxy
 * connects from loopback for everyone, and says so with Forwarded, X-Forwarded-For or Via.
 */
const fromLoopback = (req: { socket: { remoteAddress?: string }; headers: Record<string, unknown> }) =>
  LOOPBACK.has(req.socket.remoteAddress ?? '') && req.headers.forwarded === undefined && req.headers['x-forwarded-for'] === undefined && req.headers.via === undefined;

export interface WebOptions {
  /** Accept POST /api/sync/:table from other hosts than loopback. Off by default. */
  allowRemoteAdmin?: boolean;
  /** Credentials and host names (default: no credentials, loopback host names only). */
  access?: AccessOptions;
  /** Timers (the update debounce, the event stream's heartbeat); the mirror's clock. */
  clock?: Clock;
  logger?: boolean;
}

/**
 * The mirror's web app. Every route reads the mirror's cached view or the store;
 * none calls the instance. The dashboard and /api/summary are rendered once per
 * change and served from memory.
 *
 *   GET  /health                 liveness
 *   GET  /ready                  200 once the critical groups are warmed, else 503
 *   GET  /favicon.ico            the icon
 *   GET  /metrics                Prometheus: holdfast_client_* and holdfast_servicenow_*
 *   GET  /dashboard              the page; / redirects to it
 *   GET  /api/summary            counts per group, sync status, upstream health
 *   GET  /api/groups/:group/:table   a group's waiting records (group "-" is unassigned)
 *   GET  /api/events             server-sent events: summary, health
 *   POST /api/sync/:table        sync one table now (loopback only unless allowRemoteAdmin)
 *
 * Every request first passes the access hook (access.ts): the Host allow-list, the
 * credentials when configured (not for /health and /ready), and same-origin for POST.
 */
export function buildWebApp(mirror: DashboardSource, options: WebOptions = {}): FastifyInstance {
  const app = Fastify({ logger: options.logger ?? false, forceCloseConnections: true, keepAliveTimeout: 5000 });
  const clock = options.clock ?? systemClock;
  const events = new EventStream(clock);
  const files = { js: asset('dashboard.js'), css: asset('dashboard.css'), ico: asset('favicon.ico') };
  let page: string | undefined;
  let summaryJson: string | undefined;
  const state = () => ({ summary: mirror.summary(), status: mirror.status(), health: mirror.healthPoints() });
  const invalidate = () => { page = undefined; summaryJson = undefined; };
  let pending: (() => void) | undefined;
  const onUpdate = () => {
    invalidate();
    pending ??= clock.schedule(() => { pending = undefined; events.send('summary', { summary: mirror.summary(), status: mirror.status() }); }, 200);
  };
  mirror.on('update', onUpdate);
  const offHealth = mirror.onHealthPoint((point) => events.send('health', point));
  app.addHook('onClose', () => { mirror.off('update', onUpdate); offHealth(); pending?.(); events.close(); });
  app.addHook('onSend', (_req, reply, payload, done) => { reply.headers(SECURITY_HEADERS); done(null, payload); });
  app.addHook('onRequest', accessHook(options.access ?? { allowedHosts: LOOPBACK_HOSTS }));

  app.get('/health', () => ({ status: 'ok' }));
  app.get('/ready', (_req, reply) => {
    const status = mirror.status();
    return reply.code(status.ready ? 200 : 503).send({ ready: status.ready, warm: status.warm ?? null });
  });
  app.get('/favicon.ico', (_req, reply) => reply.type('image/x-icon').header('cache-control', 'public, max-age=86400').send(files.ico));
  app.get('/assets/dashboard.js', (_req, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'no-cache').send(files.js));
  app.get('/assets/dashboard.css', (_req, reply) => reply.type('text/css; charset=utf-8').header('cache-control', 'no-cache').send(files.css));
  app.get('/metrics', async (_req, reply) => {
    const { contentType, text } = await mirror.metrics();
    return reply.type(contentType).send(text);
  });
  app.get('/', (_req, reply) => reply.redirect('/dashboard'));
  app.get('/dashboard', (_req, reply) => {
    page ??= renderDashboard({ instance: mirror.instance, state: state() });
    return reply.type('text/html; charset=utf-8').header('cache-control', 'no-store').send(page);
  });
  app.get('/api/summary', (_req, reply) => {
    summaryJson ??= JSON.stringify(state());
    return reply.type('application/json; charset=utf-8').send(summaryJson);
  });
  app.get<{ Params: { group: string; table: string }; Querystring: { limit?: string } }>('/api/groups/:group/:table', async (req, reply) => {
    const { table } = req.params;
    if (!mirror.tables.includes(table)) return reply.code(404).send({ error: `table ${table} is not mirrored` });
    const group = req.params.group === '-' ? '' : req.params.group;
    if (!/^[0-9a-f]{0,32}$/i.test(group)) return reply.code(400).send({ error: 'group must be a sys_id or "-"' });
    const limit = Math.min(MAX_LIST, Math.max(1, Number(req.query.limit ?? 200) || 200));
    const items = await mirror.waiting(table, group, limit);
    return { table, group, items: items.map((item) => ({ ...item, url: mirror.recordUrl(table, item.sys_id) })) };
  });
  app.get('/api/events', (req, reply) => {
    reply.hijack();
    events.add(reply.raw, [['summary', { summary: mirror.summary(), status: mirror.status() }], ['history', mirror.healthPoints()]]);
    req.raw.socket.setTimeout(0);
  });
  app.post<{ Params: { table: string } }>('/api/sync/:table', async (req, reply) => {
    if (options.allowRemoteAdmin !== true && !fromLoopback(req)) return reply.code(403).send({ error: 'admin actions are allowed from loopback only' });
    if (!mirror.tables.includes(req.params.table)) return reply.code(404).send({ error: `table ${req.params.table} is not mirrored` });
    const ran = await mirror.syncNow(req.params.table).catch((err: Error) => err);
    if (ran instanceof Error) return reply.code(502).send({ error: ran.message });
    return reply.code(ran ? 200 : 409).send(ran ? { synced: req.params.table } : { error: 'another sync is running; try again shortly' });
  });
  // Whatever fails inside a route is our fault, not the instance's: a clear 500 without internals.
  app.setErrorHandler((err: { statusCode?: number; message: string }, _req, reply) => {
    const status = err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 500;
    void reply.code(status).send({ error: status === 500 ? 'internal error' : err.message });
  });
  return app;
}
