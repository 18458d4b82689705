import { isAbsolute } from 'node:path';
import { z } from 'zod';

/**
 * Query keys whose values never reach the access log (compared without case): credentials
 * that clients put in URLs (OAuth, API keys, pre-signed S3 URLs).
 */
export const DEFAULT_REDACTED_QUERY_KEYS = [
  'access_token', 'id_token', 'refresh_token', 'token', 'code', 'client_secret', 'password', 'passwd', 'secret',
  'api_key', 'apikey', 'key', 'auth', 'signature', 'sig', 'x-amz-signature', 'x-amz-credential', 'x-amz-security-token',
];

/**
 * The proxy's `accessLog:` section: one JSON line per HTTP request and per layer-4 connection.
 * docs/reference/proxy.md#access-log.
 */
export const accessLogSchema = z.strictObject({
  /** `stdout`, or a file (an absolute path) that SIGUSR1 reopens after a rotation. */
  output: z.string().refine((s) => s === 'stdout' || isAbsolute(s), 'expected stdout or an absolute file path').default('stdout'),
  /** The share of requests answered below 400 that are logged (0 to 1); a 4xx or 5xx, or a request cut short, always is. */
  sample: z.number({ error: 'expected sample as a number from 0 to 1' }).min(0, 'expected sample >= 0').max(1, 'expected sample <= 1').default(1),
  /** Log the query string (the values of `redactQueryKeys` replaced), not only the path. */
  query: z.boolean().default(false),
  /** Query keys whose values are written as REDACTED (compared without case). */
  redactQueryKeys: z.array(z.string().min(1)).default(DEFAULT_REDACTED_QUERY_KEYS).transform((keys) => keys.map((k) => k.toLowerCase())),
  /** Lines are held until this many bytes are waiting (nginx's `buffer=`): one write per buffer, not per line. 0: each line at once. */
  bufferBytes: z.number({ error: 'expected bufferBytes as a number' }).int().min(0, 'expected bufferBytes >= 0').max(1024 * 1024, 'expected bufferBytes <= 1048576').default(32_768),
  /** …and written at least this often (nginx's `flush=`), so a quiet proxy's lines are not held. */
  flushMs: z.number({ error: 'expected flushMs in milliseconds' }).int().min(10, 'expected flushMs >= 10').max(60_000, 'expected flushMs <= 60000').default(1_000),
  /** One line per layer-4 connection too, when it closes. */
  connections: z.boolean().default(true),
}).optional();

export type AccessLogConfig = NonNullable<z.output<typeof accessLogSchema>>;
