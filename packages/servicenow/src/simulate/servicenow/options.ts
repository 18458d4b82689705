import { z } from 'zod';
import { parseOptions } from 'holdfast/internal/parse-options.js';
import { schemaSchema } from './schema.js';

const ms = () => z.number().int().nonnegative();

/** Faults that can be changed at runtime through the admin endpoint. */
export const faultsSchema = z.strictObject({
  /** Fraction of requests answered with a TCP reset instead of a response. */
  rstRate: z.number().min(0).max(1).default(0),
  /** Delay added to every response, in ms (counts toward the transaction time). */
  slowMs: ms().default(0),
  /** Of every `period` requests, the first `count` get `code`: 500/503 bursts, or 429 with `Retry-After: 1`. */
  status: z.strictObject({ code: z.number().int().refine((c) => c === 429 || (c >= 500 && c <= 599), 'expected 429 or 500..599'), count: z.number().int().positive(), period: z.number().int().positive() }).optional(),
  /** Fraction of responses whose body is cut off mid-way (the connection is destroyed). */
  truncateRate: z.number().min(0).max(1).default(0),
  /** Tables whose every row an ACL hides from lists: `200 {"result":[]}`, as an instance answers a user who may not read them. */
  hiddenTables: z.array(z.string().min(1)).default([]),
});

export const simulatorSchema = z.strictObject({
  host: z.string().default('127.0.0.1'),
  /**
   * HTTPS: true makes a self-signed certificate for the host, localhost and 127.0.0.1 at start
   * (`sim.certificate` holds it, for clients to trust); or a key and certificate, as PEM.
   */
  tls: z.union([z.boolean(), z.strictObject({ key: z.string().min(1), cert: z.string().min(1) })]).default(false),
  port: z.number().int().min(0).max(65_535).default(0),
  /** The admin endpoint (faults, refusal windows, token revocation, stats) binds to loopback unless told otherwise. */
  adminHost: z.string().default('127.0.0.1'),
  adminPort: z.number().int().min(0).max(65_535).default(0),
  seed: z.number().int().default(1),
  /** Task records to generate (half incidents, a quarter each change tasks and catalog tasks). */
  records: z.number().int().nonnegative().default(2000),
  /** Seeded times fall in the 90 days before this instant (ms since the epoch); default: today, 00:00 UTC. */
  epochMs: z.number().int().optional(),
  /** Load the data from a state file instead of generating it. */
  load: z.string().optional(),
  strict: z.boolean().default(false),
  caseSensitive: z.boolean().default(false),
  users: z.array(z.strictObject({ user_name: z.string().min(1), password: z.string().min(1), readOnly: z.boolean().default(false) })).min(1)
    .default([{ user_name: 'admin', password: 'admin', readOnly: false }]),
  clients: z.array(z.strictObject({ client_id: z.string().min(1), client_secret: z.string().min(1), application_user: z.string().optional() }))
    .default([{ client_id: 'holdfast', client_secret: 'holdfast', application_user: 'admin' }]),
  accessTokenTtlS: z.number().int().positive().default(1800),
  refreshTokenTtlS: z.number().int().positive().default(8_640_000),
  rateLimits: z.array(z.strictObject({ user: z.string().min(1), limit: z.number().int().positive(), table: z.string().optional(), method: z.string().optional() })).default([]),
  /** Requests served at once (the API_INT semaphores) and how many more may wait; beyond that, 429. */
  workers: z.number().int().positive().default(4),
  queueDepth: z.number().int().nonnegative().default(50),
  /** The transaction quota: a request running longer is cancelled (200 with a cut-off body, or 500). */
  maxTransactionMs: z.number().int().positive().default(60_000),
  onTransactionTimeout: z.enum(['truncate', '500']).default('truncate'),
  /** Simulated query cost per returned row, in µs (0: only the real cost). */
  rowCostUs: z.number().nonnegative().default(0),
  /** Advertised and enforced keep-alive idle timeout, in seconds. */
  keepAliveTimeoutS: z.number().int().positive().default(20),
  /** A load balancer in front that drops connections idle this long (0: none); unadvertised unless lbAdvertise. */
  lbIdleMs: ms().default(0),
  lbAdvertise: z.boolean().default(false),
  /** Refuse connections for `forMs` out of every `everyMs`. */
  refuse: z.strictObject({ everyMs: z.number().int().positive(), forMs: z.number().int().positive() }).optional(),
  /** Updates, creates and deletes per second on the task tables (0: none). */
  churnPerSecond: z.number().nonnegative().default(0),
  faults: faultsSchema.prefault({}),
  /** Extra tables and u_* fields (schema.ts), with their sys_dictionary rows. */
  schema: schemaSchema.prefault({}),
});

export type SimulatorOptions = z.input<typeof simulatorSchema>;
export type ResolvedSimulatorOptions = z.output<typeof simulatorSchema>;
export type Faults = z.output<typeof faultsSchema>;

export function resolveSimulatorOptions(input: unknown): ResolvedSimulatorOptions {
  return parseOptions(simulatorSchema, input);
}

export function parseFaults(input: unknown): Faults {
  return parseOptions(faultsSchema, input);
}
