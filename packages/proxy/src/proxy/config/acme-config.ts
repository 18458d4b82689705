import { z } from 'zod';
import { ms } from './config-fields.js';

/**
 * The ACME half of the proxy's config (RFC 8555): certificates that obtain and renew
 * themselves, and where their account keys and certificates are kept.
 * docs/reference/proxy.md#acme is its reference.
 */

export const LETS_ENCRYPT_DIRECTORY = 'https://acme-v02.api.letsencrypt.org/directory';
export const LETS_ENCRYPT_STAGING_DIRECTORY = 'https://acme-staging-v02.api.letsencrypt.org/directory';
/** How often each instance looks at its certificates' expiry (and a CA's renewal window). */
export const DEFAULT_ACME_CHECK_MS = 3_600_000;
/** The first retry after a failed order; each failure doubles it, with jitter, up to the maximum. */
export const DEFAULT_ACME_RETRY_MIN_MS = 60_000;
export const DEFAULT_ACME_RETRY_MAX_MS = 6 * 3_600_000;

/** A DNS name a public CA can validate by HTTP-01 or TLS-ALPN-01: no wildcard (that needs DNS-01), no IP address. */
const acmeDomain = z.string()
  .refine((s) => !s.startsWith('*.'), 'a wildcard name needs a DNS-01 challenge, which holdfast does not answer: list the names')
  .refine((s) => /^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]*[a-z0-9])?$/i.test(s) && !/^[\d.]+$/.test(s), 'expected a DNS name such as www.example.com')
  .transform((s) => s.toLowerCase());

const directory = z.string().min(1).transform((s, ctx) => {
  if (s === 'letsencrypt') return LETS_ENCRYPT_DIRECTORY;
  if (s === 'letsencrypt-staging') return LETS_ENCRYPT_STAGING_DIRECTORY;
  let url: URL;
  try {
    url = new URL(s);
  } catch {
    ctx.addIssue({ code: 'custom', message: 'expected letsencrypt, letsencrypt-staging or an https:// directory URL' });
    return z.NEVER;
  }
  if (url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'expected an https:// directory URL (RFC 8555 §6.1)' });
  return s;
});

export const acmeOrderSchema = z.strictObject({
  /** The names on the certificate; the first is its name in the store, the logs and the metrics. */
  domains: z.array(acmeDomain).min(1, 'expected at least one domain'),
  /** An email address the CA may write to about the account (expiry, incidents). */
  contact: z.email('expected an email address such as ops@example.com'),
  /** `letsencrypt` (default), `letsencrypt-staging`, or a directory URL. */
  directory: directory.default(LETS_ENCRYPT_DIRECTORY),
  /** http-01: answered on the proxy's `http` routes; tls-alpn-01: answered inside its TLS listener (`terminate` routes). */
  challenge: z.enum(['http-01', 'tls-alpn-01'], { error: 'expected challenge http-01 or tls-alpn-01' }).default('http-01'),
});

export const acmeCertificateSchema = z.strictObject({
  acme: acmeOrderSchema,
  /** Served when no certificate matches the client's SNI (default: the first). */
  default: z.boolean().default(false),
});

const fileStore = z.strictObject({ dir: z.string().min(1) });
const redisStore = z.strictObject({
  redis: z.strictObject({
    url: z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL'),
    keyPrefix: z.string().default('holdfast:acme:'),
  }),
});

export const acmeSettingsSchema = z.strictObject({
  /** Account keys and certificates: a directory (files 0600), or Redis shared by several instances. */
  store: z.union([fileStore, redisStore], { error: 'expected store: { dir: PATH } or store: { redis: { url: redis://… } }' }).default({ dir: 'acme' }),
  /** PEM CA certificates the directory's own HTTPS chains to (a private CA, or a test CA such as pebble). */
  directoryCaFile: z.string().min(1).optional(),
  /** A request to the CA that fails (connection error, 429, 5xx) is tried again this many times, after Retry-After or 5 s × the attempt (acme-client's rule). */
  requestRetries: z.number().int().min(0, 'expected requestRetries >= 0').max(10, 'expected requestRetries <= 10').default(5),
  checkMs: ms('checkMs').min(1_000, 'expected checkMs >= 1000').default(DEFAULT_ACME_CHECK_MS),
  retryMinMs: ms('retryMinMs').min(1_000, 'expected retryMinMs >= 1000').default(DEFAULT_ACME_RETRY_MIN_MS),
  retryMaxMs: ms('retryMaxMs').min(1_000, 'expected retryMaxMs >= 1000').default(DEFAULT_ACME_RETRY_MAX_MS),
}).prefault({});

export type AcmeOrderConfig = z.output<typeof acmeOrderSchema>;
export type AcmeCertificateConfig = z.output<typeof acmeCertificateSchema>;
export type AcmeSettings = z.output<typeof acmeSettingsSchema>;
