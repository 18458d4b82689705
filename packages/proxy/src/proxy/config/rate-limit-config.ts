import { z } from 'zod';

/**
 * An HTTP route's `rateLimit:` section: a token bucket per client, local to the process or
 * shared through Redis by every instance naming the same URL and prefix.
 * docs/reference/proxy.md#http-routes-certificates-and-server-settings.
 */
export const rateLimitSchema = z.strictObject({
  /** Tokens added per second: the sustained rate a client may send at. */
  requestsPerSecond: z.number({ error: 'expected requestsPerSecond as a number' }).positive('expected requestsPerSecond > 0').max(1_000_000),
  /** The bucket's size: requests a client may send at once after a quiet spell (default: one second's worth, at least 1). */
  burst: z.number().int('expected burst as a whole number').min(1, 'expected burst >= 1').optional(),
  /** Whose bucket: the client's address (default), or a header's or cookie's value (a client without it: its address). */
  key: z.union([
    z.literal('client'),
    z.strictObject({ header: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name').transform((s) => s.toLowerCase()) }),
    z.strictObject({ cookie: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a cookie name') }),
  ], { error: 'expected key: client, key: { header: NAME } or key: { cookie: NAME }' }).default('client'),
  /** Shared by every instance using this Redis and prefix (rate-limiter-flexible); local when absent. */
  redis: z.strictObject({
    url: z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL'),
    keyPrefix: z.string().default('holdfast:proxy-rate:'),
  }).optional(),
});

export type RateLimitConfig = z.output<typeof rateLimitSchema>;
