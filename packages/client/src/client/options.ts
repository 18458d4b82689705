import type { LoggerLike, MetricsRegistry, RedisClient } from './peer-types.js';
import { promClient } from '../observe/client-metrics.js';
import { z } from 'zod';
import { DEFAULT_SHARED_RATE_LIMIT_PREFIX } from './shared-rate-limit.js';
import { DEFAULT_LATENCY_MIN_SAMPLES, DEFAULT_LATENCY_QUANTILE, DEFAULT_LATENCY_WINDOW } from '../policy/latency-estimator.js';
import { parseOptions } from '../parse-options.js';
import { isRedisClient } from '../redis-client.js';
import {
  DEFAULT_IDLE_TIMEOUT_MS, DEFAULT_LEARN_AFTER, DEFAULT_LEARNED_TTL_MS, DEFAULT_MIN_LEARNED_MS, DEFAULT_MARGIN_RATIO, DEFAULT_MAX_MARGIN_MS, DEFAULT_UNSAFE_REUSE_RATIO,
} from '../policy/keep-alive.js';
import { DEFAULT_BACKOFF_BASE_MS, DEFAULT_BACKOFF_MAX_MS } from '../policy/backoff.js';
import { DEFAULT_RETRY_BUDGET_MIN_CONCURRENT, DEFAULT_RETRY_BUDGET_RATIO } from '../policy/retry-budget.js';
import {
  DEFAULT_CONSECUTIVE_FAILURES, DEFAULT_FAILURE_RATIO, DEFAULT_HALF_OPEN_PROBES, DEFAULT_HALF_OPEN_SUCCESS_RATIO,
  DEFAULT_MAX_OPEN_MS, DEFAULT_MINIMUM_VOLUME, DEFAULT_OPEN_MS, DEFAULT_RATIO_WINDOW_MS,
} from '../policy/circuit-breaker.js';

export const DEFAULT_CONNECTIONS_PER_ORIGIN = 64;
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_HEADERS_TIMEOUT_MS = 300_000;
export const DEFAULT_BODY_TIMEOUT_MS = 300_000;
export const DEFAULT_DEADLINE_MS = 60_000;
export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_RETRY_STATUSES = [429, 502, 503, 504] as const;
export const DEFAULT_MAX_RETRY_AFTER_MS = 30_000;

const ms = () => z.number().int().nonnegative();
const ratio = () => z.number().min(0).max(1);

export const DEFAULT_BREAKER_FAILURE_STATUSES = [500, 502, 503, 504] as const;
export const DEFAULT_MAX_QUEUE = 1000;
export const DEFAULT_SLOW_REQUEST_MS = 5000;
export const DEFAULT_ADAPTIVE_MULTIPLIER = 3;
export const DEFAULT_HEDGE_QUANTILE = 0.95;
export const DEFAULT_HEDGE_MIN_DELAY_MS = 10;
export const DEFAULT_ADAPTIVE_MIN_MS = 100;
export const DEFAULT_ADAPTIVE_MAX_MS = 30_000;
export const DEFAULT_QUEUE_TIMEOUT_MS = 30_000;
export const DEFAULT_RATE_LIMIT_MAX_WAIT_MS = 1000;

/** Keep-alive alignment settings, shared by createDispatcher and createAgent. */
export const keepAliveSchema = z.strictObject({
  defaultIdleMs: ms().default(DEFAULT_IDLE_TIMEOUT_MS),
  marginRatio: ratio().default(DEFAULT_MARGIN_RATIO),
  maxMarginMs: ms().default(DEFAULT_MAX_MARGIN_MS),
  unsafeReuseRatio: ratio().default(DEFAULT_UNSAFE_REUSE_RATIO),
  learnedTtlMs: ms().default(DEFAULT_LEARNED_TTL_MS),
  minLearnedMs: ms().default(DEFAULT_MIN_LEARNED_MS),
  learnAfter: z.number().int().positive().default(DEFAULT_LEARN_AFTER),
});

export const DEFAULT_SILENT_DROP_AFTER_IDLE_MS = 500;
export const DEFAULT_SILENT_DROP_MIN_TIMEOUT_MS = 1000;
export const DEFAULT_SILENT_DROP_LATENCY_MULTIPLIER = 4;
export const DEFAULT_TCP_KEEPALIVE_MS = 1000;

/**
 * Silent-drop detection (docs/guides/client.md#silent-drops): a request safe to repeat,
 * written to a socket idle for `afterIdleMs` or more, must see a response byte within
 * `latencyMultiplier ×` the origin's slowest recent first byte (at least `minTimeoutMs`), or
 * it is sent again on a fresh connection. Pooled sockets send TCP keep-alive probes after
 * `tcpKeepAliveMs` of idle. `false` turns both off.
 */
const silentDropSchema = z.strictObject({
  afterIdleMs: ms().default(DEFAULT_SILENT_DROP_AFTER_IDLE_MS),
  minTimeoutMs: ms().default(DEFAULT_SILENT_DROP_MIN_TIMEOUT_MS),
  latencyMultiplier: z.number().min(1).default(DEFAULT_SILENT_DROP_LATENCY_MULTIPLIER),
  tcpKeepAliveMs: ms().default(DEFAULT_TCP_KEEPALIVE_MS),
});

const breakerSchema = z.strictObject({
  consecutiveFailures: z.number().int().positive().default(DEFAULT_CONSECUTIVE_FAILURES),
  failureRatio: ratio().default(DEFAULT_FAILURE_RATIO),
  ratioWindowMs: z.number().int().positive().default(DEFAULT_RATIO_WINDOW_MS),
  minimumVolume: z.number().int().positive().default(DEFAULT_MINIMUM_VOLUME),
  halfOpenProbes: z.number().int().positive().default(DEFAULT_HALF_OPEN_PROBES),
  halfOpenSuccessRatio: ratio().default(DEFAULT_HALF_OPEN_SUCCESS_RATIO),
  openMs: z.number().int().positive().default(DEFAULT_OPEN_MS),
  maxOpenMs: z.number().int().positive().default(DEFAULT_MAX_OPEN_MS),
  /** Responses with these statuses count as failures; transport failures always do. */
  failureStatuses: z.array(z.number().int().min(100).max(599)).default([...DEFAULT_BREAKER_FAILURE_STATUSES]),
});

/** Retries: the one schema, and so the one set of defaults, of the dispatcher and the axios adapter. */
export const retrySchema = z.strictObject({
  /** Attempts in all, the first included; 1 turns retries off. */
  maxAttempts: z.number().int().min(1).default(DEFAULT_MAX_ATTEMPTS),
  baseDelayMs: ms().default(DEFAULT_BACKOFF_BASE_MS),
  maxDelayMs: ms().default(DEFAULT_BACKOFF_MAX_MS),
  statuses: z.array(z.number().int().min(100).max(599)).default([...DEFAULT_RETRY_STATUSES]),
  /** A `Retry-After` longer than this is not waited for: the response goes to the caller. */
  maxRetryAfterMs: ms().default(DEFAULT_MAX_RETRY_AFTER_MS),
  /**
   * Opt-in: the body of a response to a request safe to repeat is held until complete, up to
   * this many bytes, so that a body cut off mid-way is retried before the caller reads any
   * of it. 0 (the default) delivers every body as it arrives.
   */
  cutBodyBufferBytes: z.number().int().nonnegative().default(0),
  budget: z.strictObject({
    ratio: ratio().default(DEFAULT_RETRY_BUDGET_RATIO),
    minConcurrent: z.number().int().nonnegative().default(DEFAULT_RETRY_BUDGET_MIN_CONCURRENT),
  }).prefault({}),
});

const schema = z.strictObject({
  /** Sockets per origin; requests beyond it wait in the pool's queue. */
  connections: z.number().int().positive().default(DEFAULT_CONNECTIONS_PER_ORIGIN),
  connectTimeoutMs: ms().default(DEFAULT_CONNECT_TIMEOUT_MS),
  headersTimeoutMs: ms().default(DEFAULT_HEADERS_TIMEOUT_MS),
  bodyTimeoutMs: ms().default(DEFAULT_BODY_TIMEOUT_MS),
  /** Overall deadline of a request until its response starts; 0 turns it off. */
  deadlineMs: ms().default(DEFAULT_DEADLINE_MS),
  keepAlive: keepAliveSchema.prefault({}),
  /** TLS for https origins: the CA(s) to trust instead of Node's bundled roots, verification, and the SNI to send. */
  tls: z.strictObject({
    ca: z.union([z.string(), z.instanceof(Buffer), z.array(z.union([z.string(), z.instanceof(Buffer)]))]).optional(),
    /** false accepts any certificate: only for tests and for upstreams you reach over a trusted network. */
    rejectUnauthorized: z.boolean().default(true),
    /** Default: the request's Host name (none for an IP address). */
    servername: z.string().min(1).optional(),
  }).optional(),
  /** Stale-socket replay of requests that are safe to send twice. */
  replay: z.boolean().default(true),
  /**
   * HTTP/2 to https origins that offer it by ALPN (docs/guides/client.md#http2-to-origins).
   * Off by default: HTTP/1.1 only, as ALPN then offers.
   */
  http2: z.boolean().default(false),
  silentDrop: z.union([z.literal(false), silentDropSchema]).prefault({}),
  /**
   * OpenTelemetry: one span per request, an event per attempt, `traceparent` propagated.
   * Needs the optional peer `@opentelemetry/api`. `true` uses the global tracer provider.
   */
  tracing: z.preprocess((v) => (v === true ? {} : v), z.union([z.literal(false), z.strictObject({ tracerProvider: z.unknown().optional() })])).default(false),
  /**
   * An outbound proxy: `'env'` reads `HTTP_PROXY`, `HTTPS_PROXY` and `NO_PROXY` (undici's
   * EnvHttpProxyAgent), or a proxy URL (http, https or socks5; credentials in the URL).
   */
  proxy: z.union([
    z.literal('env'),
    z.string().refine((value) => URL.canParse(value) && ['http:', 'https:', 'socks5:', 'socks:'].includes(new URL(value).protocol), 'a proxy URL (http://, https:// or socks5://) or "env"'),
  ]).optional(),
  /** Circuit breaker per origin: `true` or options to turn it on. Off by default. */
  breaker: z.preprocess((v) => (v === true ? {} : v === false ? undefined : v), breakerSchema.optional()),
  /** Concurrency limit per origin with a bounded FIFO queue. Off unless `maxConcurrent` is set. */
  limit: z.strictObject({
    maxConcurrent: z.number().int().positive(),
    maxQueue: z.number().int().nonnegative().default(DEFAULT_MAX_QUEUE),
    /** How long a request may wait in the queue; 0 = as long as it takes (the deadline still applies). */
    queueTimeoutMs: ms().default(DEFAULT_QUEUE_TIMEOUT_MS),
  }).optional(),
  /** Token-bucket rate limit per origin. Off unless set. */
  rateLimit: z.strictObject({
    requestsPerSecond: z.number().positive(),
    /** Tokens that may be spent at once; default: one second's worth. */
    burst: z.number().int().positive().optional(),
    /** How long a request may wait for a token; 0 = fail at once with HF_ERR_RATE_LIMITED. */
    maxWaitMs: ms().default(DEFAULT_RATE_LIMIT_MAX_WAIT_MS),
    /** Share the budget with every process using the same Redis and prefix (a fixed one-second window). */
    redis: z.strictObject({
      url: z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL').optional(),
      /** An ioredis client you own (holdfast will not close it). */
      client: z.custom<RedisClient>((v) => isRedisClient(v), 'expected an ioredis client').optional(),
      keyPrefix: z.string().min(1).default(DEFAULT_SHARED_RATE_LIMIT_PREFIX),
    }).optional(),
  }).optional(),
  /** Adaptive per-attempt timeout from the origin's recent latency: `true` or settings. Off by default. */
  adaptiveTimeout: z.preprocess((v) => (v === true ? {} : v === false ? undefined : v), z.strictObject({
    /** The attempt may take this many times the latency quantile… */
    multiplier: z.number().min(1).default(DEFAULT_ADAPTIVE_MULTIPLIER),
    /** …but never less than this… */
    minMs: z.number().int().positive().default(DEFAULT_ADAPTIVE_MIN_MS),
    /** …nor more than this (also the timeout before there is an estimate). */
    maxMs: z.number().int().positive().default(DEFAULT_ADAPTIVE_MAX_MS),
    quantile: z.number().min(0.5).max(1).default(DEFAULT_LATENCY_QUANTILE),
    /** Recent samples the quantile is taken over. */
    window: z.number().int().min(10).default(DEFAULT_LATENCY_WINDOW),
    minSamples: z.number().int().positive().default(DEFAULT_LATENCY_MIN_SAMPLES),
  }).optional()),
  /**
   * Hedging for requests safe to repeat: `true` or settings. When no response headers
   * arrived after the origin's latency `quantile`, a second attempt goes out; the first
   * answer wins. Off by default: it trades extra requests for a shorter tail.
   */
  hedge: z.preprocess((v) => (v === true ? {} : v === false ? undefined : v), z.strictObject({
    quantile: z.number().min(0.5).max(1).default(DEFAULT_HEDGE_QUANTILE),
    window: z.number().int().min(10).default(DEFAULT_LATENCY_WINDOW),
    minSamples: z.number().int().positive().default(DEFAULT_LATENCY_MIN_SAMPLES),
    /** Never hedge sooner than this. */
    minDelayMs: z.number().int().nonnegative().default(DEFAULT_HEDGE_MIN_DELAY_MS),
  }).optional()),
  /** Prometheus metrics: `true` for a registry of the dispatcher's own, or `{ registry }` to add them to yours. */
  metrics: z.union([z.boolean(), z.strictObject({ registry: z.custom<MetricsRegistry>((v) => v instanceof promClient().Registry, 'expected a prom-client Registry') })]).default(false),
  /** A pino logger: warnings for slow requests and opened breakers. Headers are never logged. */
  logger: z.custom<LoggerLike>((v) => typeof v === 'object' && v !== null && typeof (v as LoggerLike).warn === 'function' && typeof (v as LoggerLike).info === 'function', 'expected a pino logger').optional(),
  /** A request slower than this, retries included, is logged as a warning. */
  slowRequestMs: ms().default(DEFAULT_SLOW_REQUEST_MS),
  retry: retrySchema.prefault({}),
});

export type DispatcherOptions = z.input<typeof schema>;
export type ResolvedDispatcherOptions = Readonly<z.output<typeof schema>>;

/** Validates options once, naming the offending option, and returns a frozen, fully defaulted copy. */
export function resolveDispatcherOptions(options: unknown): ResolvedDispatcherOptions {
  return deepFreeze(parseOptions(schema, options));
}

/** Freezes plain objects and arrays, not class instances the caller passed in (a Redis client). */
function deepFreeze<T>(value: T): T {
  const plain = Array.isArray(value) || (typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype);
  if (plain) {
    for (const inner of Object.values(value as object)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
