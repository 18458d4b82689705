import { basename } from 'node:path';
import { z } from 'zod';
import { cidr, ms, name, port, positive } from './config-fields.js';
import { upstreamSchema, type UpstreamConfig } from './upstream-config.js';
import { acmeCertificateSchema, acmeSettingsSchema } from './acme-config.js';
import { checkAcmeDomains } from './acme-routes.js';
import { accessLogSchema } from './access-log-config.js';

export { parseTarget, type Target } from './config-fields.js';
import {
  fileCertificateSchema, DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS, hostPattern, httpAction, httpSettingsSchema, terminateAction,
} from './http-config.js';

/**
 * The proxy's configuration file (YAML or JSON), validated here once. docs/reference/proxy.md is its
 * reference and examples/proxy.yaml a commented example; every default below is in both.
 */

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000;
/** Time for a client to send its first bytes when a route needs them (SNI) or a PROXY header is expected. */
export const DEFAULT_FIRST_DATA_TIMEOUT_MS = 10_000;
/** No byte either way for this long closes the connection. */
export const DEFAULT_IDLE_TIMEOUT_MS = 600_000;
/** 0: no limit on a connection's age. */
export const DEFAULT_MAX_LIFETIME_MS = 0;
/** After one side sends FIN, the other has this long to finish (SmartProxy uses 30 s plain). */
export const DEFAULT_HALF_CLOSE_GRACE_MS = 30_000;
export const DEFAULT_DRAIN_MS = 30_000;


/** A host name, `*.` wildcard (any depth below it, as nginx's server_name), lower-cased. */
const sniPattern = hostPattern;

const timeoutsSchema = z.strictObject({
  connectMs: ms('connectMs').optional(),
  firstDataMs: ms('firstDataMs').optional(),
  idleMs: ms('idleMs').optional(),
  lifetimeMs: ms('lifetimeMs').optional(),
  halfCloseMs: ms('halfCloseMs').optional(),
});

const forwardAction = z.strictObject({
  type: z.enum(['forward', 'passthrough']),
  /** The name of an entry of `upstreams:`. */
  upstream: name,
});
const rejectAction = z.strictObject({ type: z.literal('reject') });

const routeSchema = z.strictObject({
  name,
  match: z.strictObject({
    ports: z.array(port).min(1).optional(),
    sni: z.array(sniPattern).min(1).optional(),
    clientCidrs: z.array(cidr).min(1).optional(),
  }).default({}),
  action: z.discriminatedUnion('type', [forwardAction, rejectAction, httpAction, terminateAction], {
    error: 'expected action.type forward, passthrough, reject, http or terminate',
  }),
  /** The connect timeout is the upstream's (upstreams[].timeouts.connectMs). */
  timeouts: timeoutsSchema.omit({ connectMs: true }).optional(),
  maxConnections: positive('maxConnections').optional(),
});

const listenerSchema = z.strictObject({
  name: name.optional(),
  host: z.string().min(1).default('0.0.0.0'),
  port,
  /** Accept a PROXY protocol header (v1 or v2) from these peers only; others are refused. */
  proxyProtocol: z.strictObject({ trusted: z.array(cidr).min(1) }).optional(),
  backlog: positive('backlog').optional(),
});

export const proxyConfigSchema = z.strictObject({
  listeners: z.array(listenerSchema).min(1, 'expected at least one listener'),
  /** Named once, used by routes of either layer (`upstream: NAME`). */
  upstreams: z.array(upstreamSchema).default([]),
  routes: z.array(routeSchema).min(1, 'expected at least one route'),
  timeouts: timeoutsSchema.default({}),
  limits: z.strictObject({
    maxConnections: positive('maxConnections').default(50_000),
    perIp: positive('perIp').default(1_000),
    perRoute: positive('perRoute').default(20_000),
    newPerSecondPerIp: positive('newPerSecondPerIp').default(200),
    /** The limits over several instances (and their workers), counted in one Redis (redis-limits.ts). */
    redis: z.strictObject({
      url: z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL'),
      keyPrefix: z.string().default('holdfast:limits:'),
      instanceTtlMs: ms('instanceTtlMs').min(1_000, 'expected instanceTtlMs >= 1000').default(15_000),
    }).optional(),
  }).default({ maxConnections: 50_000, perIp: 1_000, perRoute: 20_000, newPerSecondPerIp: 200 }),
  tls: z.strictObject({
    maxHelloBytes: positive('maxHelloBytes').max(65_536).default(16_384),
    /** A terminated connection's handshake must finish in this time. */
    handshakeTimeoutMs: positive('handshakeTimeoutMs').default(DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS),
    minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
  }).prefault({}),
  /** Certificates for `terminate` routes, chosen by SNI: from files, or obtained and renewed by ACME. */
  certificates: z.array(z.union([fileCertificateSchema, acmeCertificateSchema], {
    error: 'expected a certificate with certFile and keyFile, or one with acme:',
  })).default([]),
  /** Where ACME certificates are kept, and how often they are looked at. */
  acme: acmeSettingsSchema,
  http: httpSettingsSchema,
  admin: z.strictObject({
    host: z.string().min(1).default('127.0.0.1'),
    port: port.default(9901),
    /** A bearer token: prefer tokenEnv, so that the secret stays out of the file. */
    token: z.string().min(16, 'expected a token of at least 16 characters').optional(),
    tokenEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'expected an environment variable name').optional(),
    /** Host header names accepted (no port): default, the loopback names on a loopback bind; required otherwise (DNS rebinding). */
    allowedHosts: z.array(z.string().min(1).transform((h) => h.toLowerCase())).min(1).optional(),
  }).optional(),
  /** One JSON line per HTTP request and per layer-4 connection (off when absent). */
  accessLog: accessLogSchema,
  shutdown: z.strictObject({ drainMs: ms('drainMs').default(DEFAULT_DRAIN_MS) }).default({ drainMs: DEFAULT_DRAIN_MS }),
  /**
   * Worker processes under one supervisor (docs/reference/proxy.md#workers): 1 serves in this
   * process; `auto` is one per core the process may use. Read at start; a reload that changes
   * it starts that many new workers.
   */
  workers: z.union([z.int().min(1).max(256), z.literal('auto')], { error: 'expected workers: a whole number from 1 to 256, or auto' }).default(1),
  /** How connections reach the workers: handed out by the supervisor (`cluster`) or spread by the kernel (`reusePort`). */
  workerBalance: z.enum(['cluster', 'reusePort']).default('cluster'),
}).superRefine((config, ctx) => {
  const seen = new Map<string, number>();
  config.routes.forEach((route, i) => {
    if (seen.has(route.name)) ctx.addIssue({ code: 'custom', path: ['routes', i, 'name'], message: `route name ${route.name} is already used by routes[${seen.get(route.name)!}]` });
    seen.set(route.name, i);
  });
  checkUpstreamNames(config, ctx);
  checkAcmeDomains(config, ctx);
  const terminating = config.routes.findIndex((route) => route.action.type === 'terminate');
  if (terminating >= 0 && config.certificates.length === 0) {
    ctx.addIssue({ code: 'custom', path: ['certificates'], message: `routes[${terminating}] terminates TLS: expected at least one certificate` });
  }
  if (config.certificates.filter((c) => c.default).length > 1) ctx.addIssue({ code: 'custom', path: ['certificates'], message: 'expected at most one default certificate' });
  if (config.workers !== 1 && 'dir' in config.acme.store && config.certificates.some((c) => 'acme' in c)) {
    // Each worker would order on its own, and answer only its own HTTP-01 challenges.
    ctx.addIssue({ code: 'custom', path: ['acme', 'store'], message: 'ACME certificates with workers need the Redis store (acme.store.redis): workers share orders, challenges and certificates through it' });
  }
  const bound = new Set<string>();
  config.listeners.forEach((listener, i) => {
    const key = `${listener.host}:${listener.port}`;
    if (listener.port !== 0 && bound.has(key)) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'port'], message: `${key} is already a listener` });
    bound.add(key);
  });
});

/** Upstream names are unique, every route's upstream exists, and a PROXY header goes only to layer-4 targets. */
function checkUpstreamNames(config: { upstreams: UpstreamConfig[]; routes: z.output<typeof routeSchema>[] }, ctx: z.RefinementCtx): void {
  const byName = new Map<string, number>();
  config.upstreams.forEach((upstream, i) => {
    if (byName.has(upstream.name)) ctx.addIssue({ code: 'custom', path: ['upstreams', i, 'name'], message: `upstream name ${upstream.name} is already used by upstreams[${byName.get(upstream.name)!}]` });
    else byName.set(upstream.name, i);
  });
  const known = config.upstreams.length === 0 ? 'none is defined: add an upstreams: section' : `defined: ${[...byName.keys()].join(', ')}`;
  const refer = (name: string, path: (string | number)[], http: boolean) => {
    const index = byName.get(name);
    if (index === undefined) return ctx.addIssue({ code: 'custom', path, message: `no upstream named ${name} (${known})` });
    if (http && config.upstreams[index]!.proxyProtocol !== undefined) {
      ctx.addIssue({ code: 'custom', path, message: `upstreams[${index}] (${name}) sends a PROXY protocol header, which only layer-4 routes (forward, passthrough) send` });
    }
  };
  config.routes.forEach((route, i) => {
    const action = route.action;
    if (action.type === 'forward' || action.type === 'passthrough') refer(action.upstream, ['routes', i, 'action', 'upstream'], false);
    if (action.type === 'http' || action.type === 'terminate') {
      action.routes.forEach((httpRoute, j) => {
        if (httpRoute.action.type === 'proxy') refer(httpRoute.action.upstream, ['routes', i, 'action', 'routes', j, 'action', 'upstream'], true);
      });
    }
  });
}

export type ProxyConfigInput = z.input<typeof proxyConfigSchema>;
export type ProxyConfig = z.output<typeof proxyConfigSchema>;
export type RouteConfig = ProxyConfig['routes'][number];
export type ListenerConfig = ProxyConfig['listeners'][number];
export type CertificateConfig = ProxyConfig['certificates'][number];


/** Every timeout, with the route's overrides over the global ones over the defaults. */
export interface Timeouts {
  connectMs: number;
  firstDataMs: number;
  idleMs: number;
  lifetimeMs: number;
  halfCloseMs: number;
}

export function timeoutsFor(config: ProxyConfig, route: RouteConfig | undefined): Timeouts {
  return {
    connectMs: DEFAULT_CONNECT_TIMEOUT_MS,
    firstDataMs: DEFAULT_FIRST_DATA_TIMEOUT_MS,
    idleMs: DEFAULT_IDLE_TIMEOUT_MS,
    lifetimeMs: DEFAULT_MAX_LIFETIME_MS,
    halfCloseMs: DEFAULT_HALF_CLOSE_GRACE_MS,
    ...withoutUndefined(config.timeouts),
    ...withoutUndefined(route?.timeouts ?? {}),
  };
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** A listener's name: its own, or `host:port`. */
export function listenerName(listener: ListenerConfig): string {
  return listener.name ?? `${listener.host}:${listener.port}`;
}

/** The config as /config shows it: secrets replaced. */
export function redactConfig(config: ProxyConfig): unknown {
  return {
    ...config,
    admin: config.admin === undefined ? undefined : { ...config.admin, token: config.admin.token === undefined ? undefined : '[redacted]' },
    // File paths say where keys live on the machine: only their base names are shown.
    certificates: config.certificates.map((c) => ('acme' in c ? c : { ...c, certFile: basename(c.certFile), keyFile: basename(c.keyFile) })),
    upstreams: config.upstreams.map((u) => (u.tls?.caFile === undefined ? u : { ...u, tls: { ...u.tls, caFile: basename(u.tls.caFile) } })),
  };
}
