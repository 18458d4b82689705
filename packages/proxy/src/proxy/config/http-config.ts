import { z } from 'zod';
import { bytes, cidr, ms, name, positive } from './config-fields.js';
import { rewriteSchema } from './rewrite-config.js';
import { rateLimitSchema } from './rate-limit-config.js';

/**
 * The HTTP half of the proxy's config: TLS certificates, the HTTP server settings, and the
 * HTTP routes that the `http` and `terminate` actions carry.
 * docs/reference/proxy.md#http-routes-certificates-and-server-settings is its reference.
 */

/** Longer than common client pools' idle timeouts (Node's agent 4 s… nginx 60 s), so clients close first. */
export const DEFAULT_DOWNSTREAM_KEEP_ALIVE_MS = 65_000;
/** A client has this long to send a request's headers: slowloris ends here. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 20_000;
/** A client has this long to send a whole request, body included. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;
export const DEFAULT_MAX_REQUEST_BODY_BYTES = 10 * 1024 * 1024;
/** 0: no limit. */
export const DEFAULT_MAX_RESPONSE_BODY_BYTES = 0;
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024;
/** An upgraded (WebSocket) connection with no byte either way for this long is closed. */
export const DEFAULT_WEBSOCKET_IDLE_MS = 3_600_000;
export const DEFAULT_TLS_HANDSHAKE_TIMEOUT_MS = 10_000;
/** nginx's client_max_body_size: bodies up to it are held in memory before going upstream. */
export const DEFAULT_BUFFER_REQUEST_BODY_BYTES = 1024 * 1024;
/** Apache mod_reqtimeout's MinRate. */
export const DEFAULT_MIN_REQUEST_BODY_RATE = 500;
/** HAProxy's tune.http.maxhdr is 101; a browser sends about 20. */
export const DEFAULT_MAX_HEADER_FIELDS = 100;
/** Pipelined requests waiting behind the one in flight, per client connection, before reading stops. */
export const DEFAULT_PIPELINE_DEPTH = 16;


/** A host name or `*.` wildcard (any depth below it), lower-cased. */
export const hostPattern = z.string().regex(/^(\*\.)?([a-z0-9_]([a-z0-9_-]*[a-z0-9_])?\.)*[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?$/i, 'expected a host name or *.wildcard such as *.example.test')
  .transform((s) => s.toLowerCase());

const proxyAction = z.strictObject({
  type: z.literal('proxy'),
  /** The name of an entry of `upstreams:`. */
  upstream: name,
  /** Send the client's Host upstream (true), or the target's address (false). */
  preserveHost: z.boolean().default(true),
});

const redirectAction = z.strictObject({
  type: z.literal('redirect'),
  /** `{host}` (without port) and `{path}` (with query) are filled in; the default sends HTTP to HTTPS. */
  location: z.string().min(1).default('https://{host}{path}'),
  status: z.union([z.literal(301), z.literal(302), z.literal(303), z.literal(307), z.literal(308)], { error: 'expected status 301, 302, 303, 307 or 308' }).default(308),
});

const respondAction = z.strictObject({
  type: z.literal('respond'),
  status: z.number().int().min(200, 'expected a status 200-599').max(599, 'expected a status 200-599'),
  body: z.string().default(''),
  contentType: z.string().default('text/plain; charset=utf-8'),
});

export const httpRouteSchema = z.strictObject({
  name,
  match: z.strictObject({
    /** The request's host (Host, or an absolute-form target's authority), port removed. */
    hosts: z.array(hostPattern).min(1).optional(),
    pathPrefix: z.string().startsWith('/', 'expected a path prefix starting with /').optional(),
  }).default({}),
  /** How the path is matched and sent: `normalized` (encodings, `//`, dot segments resolved: request-path.ts) or `raw`, as sent. */
  paths: z.enum(['normalized', 'raw'], { error: 'expected paths normalized or raw' }).default('normalized'),
  /** The Upgrade protocols a proxy route forwards (lower case); any other is refused with 400. h2c only when named. */
  upgrades: z.array(z.string().regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/i, 'expected a protocol token such as websocket').transform((s) => s.toLowerCase())).default(['websocket']),
  action: z.discriminatedUnion('type', [proxyAction, redirectAction, respondAction], { error: 'expected action.type proxy, redirect or respond' }),
  /** Header edits, a path prefix strip or replace, the Host sent upstream (rewrite-config.ts). */
  rewrite: rewriteSchema.optional(),
  /** A token bucket per client (address, header or cookie), local or shared through Redis: 429 past it. */
  rateLimit: rateLimitSchema.optional(),
});

const httpRoutes = z.array(httpRouteSchema).min(1, 'expected at least one HTTP route');

export const httpAction = z.strictObject({ type: z.literal('http'), routes: httpRoutes });
export const terminateAction = z.strictObject({ type: z.literal('terminate'), routes: httpRoutes });
export const fileCertificateSchema = z.strictObject({
  certFile: z.string().min(1),
  keyFile: z.string().min(1),
  /** Names it serves; default: the certificate's own DNS subjectAltNames. */
  hosts: z.array(hostPattern).min(1).optional(),
  /** Served when no certificate matches the client's SNI (default: the first). */
  default: z.boolean().default(false),
});

/** nginx's http2_max_concurrent_streams; Envoy's default is 100. */
export const DEFAULT_H2_MAX_CONCURRENT_STREAMS = 128;
/** Rapid resets, refused streams and invalid frames a session may cause before it is closed (HAProxy's glitches). */
export const DEFAULT_H2_MAX_GLITCHES = 100;

const http2Settings = z.strictObject({
  /** ALPN offers h2 before http/1.1 on terminate routes. */
  enabled: z.boolean().default(true),
  /** h2c with prior knowledge (RFC 9113 §3.3) on http routes: a connection opening with the HTTP/2 preface is served as HTTP/2. */
  cleartext: z.boolean().default(false),
  maxConcurrentStreams: positive('maxConcurrentStreams').max(10_000).default(DEFAULT_H2_MAX_CONCURRENT_STREAMS),
  /** A session with more glitches than this is sent GOAWAY ENHANCE_YOUR_CALM and closed (CVE-2023-44487 and kin). */
  maxGlitches: positive('maxGlitches').default(DEFAULT_H2_MAX_GLITCHES),
}).prefault({});

export const httpSettingsSchema = z.strictObject({
  http2: http2Settings,
  keepAliveMs: ms('keepAliveMs').default(DEFAULT_DOWNSTREAM_KEEP_ALIVE_MS),
  headersTimeoutMs: positive('headersTimeoutMs').default(DEFAULT_HEADERS_TIMEOUT_MS),
  requestTimeoutMs: positive('requestTimeoutMs').default(DEFAULT_REQUEST_TIMEOUT_MS),
  maxHeaderBytes: positive('maxHeaderBytes').max(1024 * 1024).default(DEFAULT_MAX_HEADER_BYTES),
  maxRequestBodyBytes: bytes('maxRequestBodyBytes').default(DEFAULT_MAX_REQUEST_BODY_BYTES),
  maxResponseBodyBytes: bytes('maxResponseBodyBytes').default(DEFAULT_MAX_RESPONSE_BODY_BYTES),
  /** Peers whose X-Forwarded-* and Forwarded headers are kept (and appended to); others' are replaced. */
  trustedProxies: z.array(cidr).default([]),
  /** The pseudonym in the Via header this proxy adds (RFC 9110 §7.6.3). */
  via: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$/, 'expected a token such as holdfast').default('holdfast'),
  websocketIdleMs: ms('websocketIdleMs').default(DEFAULT_WEBSOCKET_IDLE_MS),
  /** Paths with an encoded slash, backslash or NUL (%2F, %5C, %00) or a raw backslash: refused (400), or allowed (matched and sent as they are encoded). */
  ambiguousPaths: z.enum(['refuse', 'allow'], { error: 'expected ambiguousPaths refuse or allow' }).default('refuse'),
  /** More header fields than this: 431 (Node would drop those past its own count silently). */
  maxHeaderFields: positive('maxHeaderFields').max(10_000).default(DEFAULT_MAX_HEADER_FIELDS),
  /** Request bodies up to this size are read whole before an upstream connection is taken (a slow client holds none); larger ones stream. */
  bufferRequestBodyBytes: bytes('bufferRequestBodyBytes').max(64 * 1024 * 1024).default(DEFAULT_BUFFER_REQUEST_BODY_BYTES),
  /** A client sending its body slower than this (bytes per second, over 5 s windows) gets 408; 0: no floor. */
  minRequestBodyRate: bytes('minRequestBodyRate').default(DEFAULT_MIN_REQUEST_BODY_RATE),
  /** Requests a client may pipeline behind the one in flight before the proxy stops reading its connection. */
  /** X-Request-Id toward the upstream: a trusted proxy's kept and anyone else's replaced (trusted), anyone's kept (always), or left alone (off). */
  requestId: z.enum(['trusted', 'always', 'off'], { error: 'expected requestId trusted, always or off' }).default('trusted'),
  pipelineDepth: positive('pipelineDepth').max(1024, 'expected pipelineDepth <= 1024').default(DEFAULT_PIPELINE_DEPTH),
}).prefault({});

export type HttpRouteConfig = z.output<typeof httpRouteSchema>;
export type ProxyActionConfig = z.output<typeof proxyAction>;
export type HttpSettings = z.output<typeof httpSettingsSchema>;
export type Http2Settings = z.output<typeof http2Settings>;
export type FileCertificateConfig = z.output<typeof fileCertificateSchema>;
