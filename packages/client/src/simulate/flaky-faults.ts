import { z } from 'zod';

/** The faults a `FlakyServer` injects; every one is off by default. */
export const faultSchema = z.strictObject({
  /** Close a keep-alive connection after it has been idle this long; 0 never. */
  idleCloseMs: z.number().int().nonnegative().default(0),
  /** Send `Keep-Alive: timeout=⌊idleCloseMs/1000⌋` (as Node does); otherwise the close is unannounced (as nginx does). */
  advertise: z.boolean().default(false),
  /**
   * Models a FIN and a request crossing on the wire: a request that arrives on
   * a reused connection idle for at least `idleCloseMs − raceWindowMs` is
   * dropped unanswered, as if the server had closed first. 0 leaves only the
   * loopback race itself.
   */
  raceWindowMs: z.number().int().nonnegative().default(0),
  /** How idle connections are closed: FIN, or a TCP reset. */
  closeWith: z.enum(['fin', 'rst']).default('fin'),
  /** The idle close first sends `408 Request Timeout` with `Connection: close`, as Node's server and HAProxy do. */
  idle408: z.boolean().default(false),
  /**
   * The idle close is silent, as a NAT or a cloud load balancer forgets an idle flow: nothing
   * is sent and nothing closed, and whatever arrives on the connection later is never answered.
   */
  silentDrop: z.boolean().default(false),
  /** Close a connection (FIN, unannounced) right after its Nth response; 0 never. */
  closeAfterResponses: z.number().int().nonnegative().default(0),
  /** Every Nth request (by arrival) is applied, then its connection reset unanswered. */
  applyThenReset: z.number().int().nonnegative().default(0),
  /** Every Nth request with a body gets its connection reset as the body arrives; it is not applied. */
  resetMidUpload: z.number().int().nonnegative().default(0),
  /** Every Nth request is applied and answered with half its body, then its connection closed. */
  cutMidBody: z.number().int().nonnegative().default(0),
  /** Delay before each response, in ms. */
  slowMs: z.number().int().nonnegative().default(0),
  /** A slow tail: every `every`-th request (by arrival) is delayed a further `ms`. */
  slowTail: z.strictObject({ every: z.number().int().positive(), ms: z.number().int().positive() }).optional(),
  /** Of every `period` requests, the first `count` get `code` (with `Retry-After` when set). */
  status: z.strictObject({
    code: z.number().int().min(400).max(599),
    count: z.number().int().positive(),
    period: z.number().int().positive().optional(),
    retryAfter: z.string().optional(),
  }).optional(),
  /** Refuse new connections for `forMs` out of every `everyMs` (the listener is closed and reopened). */
  refuse: z.strictObject({ everyMs: z.number().int().positive(), forMs: z.number().int().positive() }).optional(),
  /** The request header whose value identifies a logical request, to count duplicates. */
  idHeader: z.string().min(1).default('x-request-id'),
});
