import { createHash, scryptSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { hostName } from 'holdfast/internal/http/host-names.js';

/** Who may use the dashboard and its API, and under which host names. */
export interface AccessOptions {
  /** Bearer tokens accepted (`Authorization: Bearer …`), for scripts and Prometheus. */
  tokens?: readonly string[];
  /** Basic users, for browsers: name → password hash from `hashPassword()`. */
  users?: ReadonlyMap<string, string>;
  /**
   * Host header names accepted (without the port); undefined: any. A page on a foreign
   * name that resolves to this server (DNS rebinding) sends that name, and is refused.
   */
  allowedHosts?: readonly string[];
}

export { LOOPBACK_HOSTS } from 'holdfast/internal/http/host-names.js';
/** Routes that need no credentials: liveness and readiness probes. */
const OPEN_ROUTES = new Set(['/health', '/ready']);
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const SCRYPT = { N: 16_384, r: 8, p: 1, keyLength: 32 };

/**
 * A password hash for a users file line `name:hash` (scrypt, with a random salt).
 *
 * @example
 * hashPassword('correct horse'); // 'scrypt$16384$8$1$<salt>$<key>'
 */
export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, SCRYPT.keyLength, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return ['scrypt', SCRYPT.N, SCRYPT.r, SCRYPT.p, salt.toString('base64'), key.toString('base64')].join('$');
}

/** Checks a password against a hashPassword() hash, in constant time. */
export function verifyPassword(password: string, hash: string): boolean {
  const [scheme, n, r, p, salt, key] = hash.split('$');
  if (scheme !== 'scrypt' || salt === undefined || key === undefined) return false;
  const want = Buffer.from(key, 'base64');
  try {
    const got = scryptSync(password, Buffer.from(salt, 'base64'), want.length, { N: Number(n), r: Number(r), p: Number(p) });
    return timingSafeEqual(got, want);
  } catch {
    return false; // parameters scrypt refuses (N not a power of two, beyond its memory limit)
  }
}

/**
 * Parses a users file: one `name:hash` per line (hashes from `holdfast servicenow
 * hash-password`), `#` comments and blank lines ignored. Throws naming the bad line.
 */
export function parseUsersFile(text: string, source: string): Map<string, string> {
  const users = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (colon <= 0 || !/^scrypt\$\d+\$\d+\$\d+\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/.test(hash)) {
      throw new Error(`${source}:${i + 1}: expected name:scrypt$… (make one with holdfast servicenow hash-password NAME)`);
    }
    users.set(name, hash);
  });
  if (users.size === 0) throw new Error(`${source}: no users`);
  return users;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** The request's Host without its port, lower-cased. */
/**
 * An onRequest hook that checks, in order: the Host against the allow-list (403), the
 * credentials when any are configured (401 with a challenge), and for a state-changing
 * method that the request comes from this origin (403): a browser sends `Origin` and
 * `Sec-Fetch-Site` with every cross-site POST, forms and `no-cors` fetches included.
 */
export function accessHook(options: AccessOptions) {
  const tokens = (options.tokens ?? []).map(digest);
  const users = options.users ?? new Map<string, string>();
  const hosts = options.allowedHosts === undefined ? undefined : new Set(options.allowedHosts.map((h) => h.toLowerCase()));
  const auth = tokens.length > 0 || users.size > 0;
  const challenge = users.size > 0 ? 'Basic realm="holdfast", charset="UTF-8"' : 'Bearer realm="holdfast"';

  const authorized = (header: string | undefined): boolean => {
    if (header === undefined) return false;
    const space = header.indexOf(' ');
    const scheme = header.slice(0, space).toLowerCase();
    const value = header.slice(space + 1).trim();
    if (scheme === 'bearer') {
      const got = digest(value);
      return tokens.some((t) => timingSafeEqual(t, got));
    }
    if (scheme === 'basic') {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const hash = colon < 0 ? undefined : users.get(decoded.slice(0, colon));
      return hash !== undefined && verifyPassword(decoded.slice(colon + 1), hash);
    }
    return false;
  };

  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (hosts !== undefined && !hosts.has(hostName(request.headers.host))) {
      return reply.code(403).send({ error: 'this host name is not allowed (allowedHosts)' });
    }
    const path = request.url.split('?', 1)[0]!;
    if (auth && !OPEN_ROUTES.has(path) && !authorized(request.headers.authorization)) {
      return reply.code(401).header('www-authenticate', challenge).send({ error: 'credentials required' });
    }
    if (STATE_CHANGING.has(request.method) && !sameOrigin(request)) {
      return reply.code(403).send({ error: 'cross-origin requests may not change state' });
    }
  };
}

/** A request with no browser origin (curl, scripts), or from the page's own origin. */
function sameOrigin(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return false;
  const origin = request.headers.origin;
  if (origin === undefined) return true;
  if (!URL.canParse(origin)) return false;
  return new URL(origin).host.toLowerCase() === (request.headers.host ?? '').toLowerCase();
}
