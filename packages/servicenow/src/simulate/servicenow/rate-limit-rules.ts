import { createHash } from 'node:crypto';

export interface RateLimitRule {
  /** A user name, or `*` for everyone. A rule for the user overrides rules for everyone. */
  user: string;
  /** Requests allowed per hour. */
  limit: number;
  /** Only requests to this table (default: the whole Table API). */
  table?: string;
  /** Only this method (default: all). */
  method?: string;
}

export type RateDecision =
  | { matched: false }
  | { matched: true; allowed: boolean; limit: number; resetS: number; ruleId: string; retryAfterS: number };

const HOUR_MS = 3_600_000;

/**
 * Inbound REST rate-limit rules as an instance applies them: per user, per hour
 * (windows reset at the top of the hour), the user's own rule before everyone's,
 * the lowest limit when several match. Every matching request is told the limit,
 * the reset time and the rule's sys_id; a denied one gets Retry-After.
 */
export class RateLimitRules {
  readonly #rules: (RateLimitRule & { id: string })[];
  readonly #counts = new Map<string, number>();
  readonly #now: () => number;
  #window = -1;

  constructor(rules: RateLimitRule[], now: () => number = Date.now) {
    this.#rules = rules.map((rule, i) => ({ ...rule, id: createHash('md5').update(`rule:${i}:${JSON.stringify(rule)}`).digest('hex') }));
    this.#now = now;
  }

  check(user: string, table: string, method: string): RateDecision {
    const applies = (r: RateLimitRule) => (r.table === undefined || r.table === table) && (r.method === undefined || r.method.toUpperCase() === method);
    const own = this.#rules.filter((r) => r.user === user && applies(r));
    const candidates = own.length > 0 ? own : this.#rules.filter((r) => r.user === '*' && applies(r));
    if (candidates.length === 0) return { matched: false };
    const rule = candidates.reduce((a, b) => (b.limit < a.limit ? b : a));
    const now = this.#now();
    const window = Math.floor(now / HOUR_MS);
    if (window !== this.#window) {
      this.#counts.clear();
      this.#window = window;
    }
    const resetMs = (window + 1) * HOUR_MS;
    const key = `${rule.id}\u0000${user}`;
    const used = this.#counts.get(key) ?? 0;
    const allowed = used < rule.limit;
    if (allowed) this.#counts.set(key, used + 1);
    return { matched: true, allowed, limit: rule.limit, resetS: Math.floor(resetMs / 1000), ruleId: rule.id, retryAfterS: Math.max(1, Math.ceil((resetMs - now) / 1000)) };
  }
}
