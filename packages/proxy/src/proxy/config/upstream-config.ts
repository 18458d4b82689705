import { z } from 'zod';
import { ms, name, positive, parseTarget, TARGET_SYNTAX } from './config-fields.js';

/**
 * The `upstreams:` section: each upstream is named once, with its targets, balancing, health
 * checks, pool and TLS settings, and routes of either layer refer to it by name (Envoy's
 * clusters, HAProxy's backends). docs/reference/proxy.md#upstreams is its reference.
 */

export const DEFAULT_UPSTREAM_CONNECTIONS = 128;
/** An upstream has this long to start its response: past it, 504. */
export const DEFAULT_UPSTREAM_RESPONSE_TIMEOUT_MS = 60_000;
/** An upstream's response body may pause this long between chunks. */
export const DEFAULT_UPSTREAM_BODY_TIMEOUT_MS = 60_000;

/** A target: `host:port`, or `{ address: "host:port", weight: N }`, parsed once. */
const targetSchema = z.union([
  z.string(),
  z.strictObject({ address: z.string(), weight: positive('weight').max(1000, 'expected weight <= 1000').default(1) }),
], { error: 'expected "host:port" or { address: "host:port", weight: N }' }).transform((written, ctx) => {
  const { address, weight } = typeof written === 'string' ? { address: written, weight: 1 } : written;
  const parsed = parseTarget(address);
  if (parsed === undefined) {
    ctx.addIssue({ code: 'custom', message: `${TARGET_SYNTAX}, got ${JSON.stringify(address)}` });
    return z.NEVER;
  }
  return { address, host: parsed.host, port: parsed.port, weight };
});

const healthCheckSchema = z.strictObject({
  path: z.string().startsWith('/', 'expected a path starting with /').default('/'),
  intervalMs: positive('intervalMs').default(5_000),
  timeoutMs: positive('timeoutMs').default(2_000),
  /** Consecutive passes that bring an unhealthy target back. */
  healthyThreshold: positive('healthyThreshold').default(2),
  /** Consecutive failures that take a target out of rotation. */
  unhealthyThreshold: positive('unhealthyThreshold').default(3),
});

export const upstreamSchema = z.strictObject({
  name,
  targets: z.array(targetSchema).min(1, 'expected at least one target'),
  /** least-request counts requests (HTTP routes) and connections (layer-4 routes) in flight. */
  balance: z.enum(['round-robin', 'least-request', 'random'], { error: 'expected balance round-robin, least-request or random' }).default('round-robin'),
  /** A GET of `path` to each target (HTTPS when `tls` is set); failing targets leave rotation for every route. */
  healthCheck: healthCheckSchema.optional(),
  /** HTTP routes: passive outlier ejection, a target failing this many times in a row leaves rotation for ejectMs (doubling while it keeps failing). */
  outlier: z.strictObject({
    consecutiveFailures: positive('consecutiveFailures').default(5),
    ejectMs: positive('ejectMs').default(10_000),
  }).prefault({}),
  /** HTTP routes: pooled keep-alive connections per target. */
  connections: positive('connections').default(DEFAULT_UPSTREAM_CONNECTIONS),
  /** HTTP routes: idempotent requests that fail before the response starts go to another target, this many times. */
  retries: z.number({ error: 'expected retries as a number' }).int().min(0).max(10, 'expected retries <= 10').default(1),
  timeouts: z.strictObject({
    /** Default: the global timeouts.connectMs. */
    connectMs: ms('connectMs').optional(),
    responseMs: ms('responseMs').default(DEFAULT_UPSTREAM_RESPONSE_TIMEOUT_MS),
    bodyMs: ms('bodyMs').default(DEFAULT_UPSTREAM_BODY_TIMEOUT_MS),
  }).prefault({}),
  /** The targets speak TLS: HTTP routes' requests and every health check go over it (passthrough forwards the client's own TLS). */
  tls: z.strictObject({
    /** PEM file of the CA(s) the targets' certificates must chain to; default: Node's bundled roots. */
    caFile: z.string().min(1).optional(),
    /** false turns certificate verification off (logged as a warning at every load). */
    verify: z.boolean().default(true),
    /** The SNI and name to verify; default: the target's host (or the client's Host with preserveHost). */
    servername: z.string().min(1).optional(),
  }).optional(),
  /** Layer-4 routes: send a PROXY protocol header (v1 or v2) to the target first. */
  proxyProtocol: z.enum(['v1', 'v2']).optional(),
});

export type UpstreamConfig = z.output<typeof upstreamSchema>;
