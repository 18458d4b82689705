import { z } from 'zod';

/**
 * An HTTP route's `rewrite:` section: what the proxy changes on the way through. Request
 * header edits, the path and the Host apply to what a proxy route sends upstream; response
 * header edits apply to every answer of the route. docs/reference/proxy.md#http-routes-certificates-and-server-settings.
 */

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** The proxy's own framing and forwarding: set by the proxy, never by a rewrite. */
const RESERVED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'content-length', 'host']);

const fieldName = z.string()
  .regex(TOKEN, 'expected a header name (a token such as x-api-version)')
  .transform((s) => s.toLowerCase())
  .refine((s) => !RESERVED.has(s), { message: 'this header is the proxy\'s own (framing, hop-by-hop, or Host: use rewrite.host)' });
const fieldValue = z.string().refine((s) => !/[\r\n\0]/.test(s), 'expected a header value without CR, LF or NUL');
const fields = z.record(fieldName, fieldValue);
const prefix = z.string().startsWith('/', 'expected a path prefix starting with /');

export const rewriteSchema = z.strictObject({
  requestHeaders: z.strictObject({
    /** Replace every field of the name (or add it). */
    set: fields.optional(),
    /** Add a field, after any the client sent. */
    add: fields.optional(),
    remove: z.array(fieldName).optional(),
  }).optional(),
  responseHeaders: z.strictObject({
    set: fields.optional(),
    remove: z.array(fieldName).optional(),
  }).optional(),
  /** `stripPrefix`: `/api/v1/x` → `/v1/x` for `/api`; `replacePrefix`: one prefix for another. */
  path: z.union([
    z.strictObject({ stripPrefix: prefix }),
    z.strictObject({ replacePrefix: z.strictObject({ from: prefix, to: prefix }) }),
  ], { error: 'expected path: { stripPrefix: /PREFIX } or path: { replacePrefix: { from: /OLD, to: /NEW } }' }).optional(),
  /** The Host sent upstream (`host` or `host:port`), whatever `preserveHost` says. */
  host: z.string().regex(/^(?:\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::\d{1,5})?$/i, 'expected a host or host:port such as api.internal:8080').optional(),
});

export type RewriteConfig = z.output<typeof rewriteSchema>;
