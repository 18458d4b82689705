import { hostname } from 'node:os';
import { z } from 'zod';
import { parseOptions } from 'holdfast/internal/parse-options.js';
import { DEFAULT_PAGE_SIZE } from './table-client.js';
import { DEFAULT_FULL_CHECK_EVERY_MS, DEFAULT_MAX_CHECK_DELETE_SHARE, DEFAULT_OVERLAP_S } from './sync-engine.js';
import { DEFAULT_WARM_PAUSE_MS } from './cache-warmer.js';
import { DEFAULT_LOCK_TTL_MS } from 'holdfast/internal/sync-lock.js';
import { DEFAULT_REDIS_PREFIX } from './redis-store.js';
import { DEFAULT_WAITING, waitingSchema } from './waiting.js';

export const DEFAULT_TABLES = ['sys_user_group', 'incident', 'change_task', 'sc_task'] as const;
export const DEFAULT_INTERVAL_S = 300;
export const DEFAULT_REQUESTS_PER_SECOND = 10;
export const DEFAULT_CONCURRENCY = 2;
export const DEFAULT_HEARTBEAT_S = 30;
export const DEFAULT_STALL_AFTER_S = 10;

const TASK_FIELDS = ['number', 'short_description', 'state', 'active', 'assignment_group', 'priority', 'opened_at', 'sys_created_on'];
/** Fields mirrored per table by default; the sync adds sys_id, sys_updated_on and sys_mod_count, and the waiting rules' fields. */
export const DEFAULT_FIELDS: Readonly<Record<string, readonly string[]>> = {
  sys_user_group: ['name', 'active'],
  incident: [...TASK_FIELDS, 'hold_reason'],
  change_task: [...TASK_FIELDS, 'on_hold'],
  sc_task: TASK_FIELDS,
};

const secret = () => z.string().min(1);
const tableName = z.string().regex(/^[a-z_][a-z0-9_]*$/, 'expected a table name');

export const mirrorSchema = z.strictObject({
  /** The instance, e.g. https://example.service-now.com. */
  instance: z.url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
    .refine((url) => { const u = new URL(url); return u.username === '' && u.password === ''; }, 'must not carry credentials (user:password@): the instance URL is shown on the dashboard and in links; give them as auth (SERVICENOW_USER and SERVICENOW_PASSWORD)'),
  auth: z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('basic'), user: secret(), password: secret() }),
    z.strictObject({ type: z.literal('oauth'), clientId: secret(), clientSecret: secret(), user: secret(), password: secret() }),
  ]),
  tables: z.array(tableName).min(1).default([...DEFAULT_TABLES])
    .refine((tables) => tables.includes('sys_user_group'), 'must include sys_user_group: it names the assignment groups the counts are kept by')
    .refine((tables) => new Set(tables).size === tables.length, 'names a table twice'),
  /** Extra fields per table, on top of DEFAULT_FIELDS. */
  fields: z.record(tableName, z.array(z.string().regex(/^[a-z_][a-z0-9_.]*$/, 'expected a field name'))).default({}),
  /** What "waiting" means per table (see waiting.ts); replaces the default of each table it names. */
  waiting: waitingSchema.default({}),
  intervalS: z.number().positive().default(DEFAULT_INTERVAL_S),
  pageSize: z.number().int().min(1).max(10_000).default(DEFAULT_PAGE_SIZE),
  overlapS: z.number().int().nonnegative().default(DEFAULT_OVERLAP_S),
  fullCheckEveryS: z.number().positive().default(DEFAULT_FULL_CHECK_EVERY_MS / 1000),
  /** A sys_id check that would delete more than this share of a table is refused and shown (ACLs can hide rows). */
  maxCheckDeleteShare: z.number().min(0).max(1).default(DEFAULT_MAX_CHECK_DELETE_SHARE),
  /** Upstream budget: requests per second and requests in flight, for the whole deployment. */
  requestsPerSecond: z.number().positive().default(DEFAULT_REQUESTS_PER_SECOND),
  concurrency: z.number().int().positive().max(16).default(DEFAULT_CONCURRENCY),
  /** Groups (names or sys_ids) to warm first; empty: every active group. */
  criticalGroups: z.array(z.string().min(1)).default([]),
  warmPauseMs: z.number().int().nonnegative().default(DEFAULT_WARM_PAUSE_MS),
  /** Without a cycle for this long, the lock holder checks the instance is reachable. */
  heartbeatS: z.number().positive().default(DEFAULT_HEARTBEAT_S),
  /** A request to the instance unanswered this long marks the data stale on the dashboard (a hung instance). */
  stallAfterS: z.number().positive().default(DEFAULT_STALL_AFTER_S),
  /** Share the store, the lock and the rate budget with other replicas. */
  redis: z.strictObject({
    url: z.string().regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL'),
    prefix: z.string().min(1).default(DEFAULT_REDIS_PREFIX),
    lockTtlMs: z.number().int().min(1000).default(DEFAULT_LOCK_TTL_MS),
  }).optional(),
  /** This replica's name in logs and the lock. */
  replica: z.string().min(1).default(`${hostname()}:${process.pid}`),
});

export type MirrorOptions = z.input<typeof mirrorSchema>;
export type ResolvedMirrorOptions = z.output<typeof mirrorSchema>;

/** Options that went through resolveMirrorOptions: passed again, they are not validated twice. */
const RESOLVED = new WeakSet<object>();

/** Validates once, naming the bad option; fills in each table's default fields and waiting rules. Resolved options come back as they are. */
export function resolveMirrorOptions(input: unknown): Readonly<ResolvedMirrorOptions> {
  if (typeof input === 'object' && input !== null && RESOLVED.has(input)) return input as Readonly<ResolvedMirrorOptions>;
  const o = parseOptions(mirrorSchema, input);
  const waiting = { ...DEFAULT_WAITING, ...o.waiting };
  const fields = Object.fromEntries(o.tables.map((t) => [t, [...new Set([...(DEFAULT_FIELDS[t] ?? []), ...(o.fields[t] ?? [])])]]));
  const resolved = Object.freeze({ ...o, waiting, fields });
  RESOLVED.add(resolved);
  return resolved;
}

/** Resolved options pointed at another instance (the simulator's, once it listens): only the URL is checked. */
export function withInstance(options: Readonly<ResolvedMirrorOptions>, instance: string): Readonly<ResolvedMirrorOptions> {
  const { instance: url } = parseOptions(mirrorSchema.pick({ instance: true }), { instance });
  const resolved = Object.freeze({ ...options, instance: url });
  RESOLVED.add(resolved);
  return resolved;
}
