import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { decrement, RateBuckets } from './rate-buckets.js';
import { systemClock, type Clock } from 'holdfast/internal/clock.js';

/**
 * The one registry of proxied connections. Each connection is a small state machine:
 *
 *   accepted ─▶ routing ─▶ connecting ─▶ established ─▶ half-closed ─▶ closed
 *       │          │           │              │                           ▲
 *       └──────────┴───────────┴──────────────┴───────────────────────────┘
 *                     (any state may close, always with a reason)
 *
 * `close()` is idempotent: the counters (total, per client IP, per route, per state) move
 * exactly once, whichever side ends first and however many events report it. The records
 * hold no timers or sockets of their own beyond what the caller attaches; the tracker only
 * counts, limits and reports.
 */
export type ConnectionState = 'accepted' | 'routing' | 'connecting' | 'established' | 'half-closed' | 'closed';

export const CONNECTION_STATES: readonly ConnectionState[] = ['accepted', 'routing', 'connecting', 'established', 'half-closed', 'closed'];

/** Why a connection closed: the first cause seen wins. */
export type CloseReason =
  | 'client-closed' // the client ended the connection (FIN), and the pair finished
  | 'backend-closed' // the backend ended it
  | 'client-reset' // ECONNRESET or another socket error on the client side
  | 'backend-reset' // the same on the backend side
  | 'connect-failed' // every target refused, timed out or failed before a byte was forwarded
  | 'no-route' // nothing matched (an unknown SNI, say)
  | 'rejected' // a route with action reject
  | 'bad-hello' // a malformed, oversized or non-TLS ClientHello where TLS was required
  | 'bad-proxy-header' // a trusted peer sent no valid PROXY protocol header
  | 'first-data-timeout' // the client sent nothing in time
  | 'idle-timeout'
  | 'max-lifetime'
  | 'half-close-timeout' // one side sent FIN and the other did not finish in the grace time
  | 'limit' // refused by a limit (see LimitName)
  | 'tls-failed' // a terminating route's TLS handshake failed or timed out
  | 'shutdown'; // the drain deadline passed during shutdown

export type LimitName = 'total' | 'per-ip' | 'per-route' | 'rate-per-ip';

export interface TrackerLimits {
  maxConnections: number;
  perIp: number;
  newPerSecondPerIp: number;
}

/** What the tracker knows of one connection. */
export interface ConnectionRecord {
  readonly id: number;
  readonly listener: string;
  /** The client's address, normalized; replaced by the PROXY header's source when one is trusted. */
  clientIp: string;
  readonly openedAt: number;
  state: ConnectionState;
  route: string | undefined;
  target: string | undefined;
  reason: CloseReason | undefined;
  /** The sockets, for byte counts and for destroying on shutdown. */
  client: Socket;
  backend: Socket | undefined;
  /** Set by the connection's owner: ends it now with `reason` (shutdown, a drain deadline). */
  abort: ((reason: CloseReason) => void) | undefined;
  /** What a LimitBroker granted this connection: kind, key, kind, key, … (released as it closes). */
  grants?: string[];
}

/**
 * Limits held across processes (a supervisor's workers, proxy/workers/): after its own check, the
 * tracker asks the broker, which counts every process's connections. `per-ip` takes a token of
 * the per-IP rate too. A granted `total`, `per-ip` or `per-route` is held until the record closes.
 */
export interface LimitBroker {
  /** Resolves with the limit that refuses one more connection for `key`, or undefined when it is granted. */
  acquire(kind: SharedLimit, key: string, max: number, ratePerSecond: number): Promise<LimitName | undefined>;
  release(kind: SharedLimit, key: string): void;
  /** Lets go of what the broker holds open (a Redis connection), once no connection is left. */
  close?(): Promise<void>;
}

export type SharedLimit = 'total' | 'per-ip' | 'per-route';

export interface TrackerEvents {
  closed: [record: ConnectionRecord];
  refused: [limit: LimitName, listener: string];
}

export class ConnectionTracker extends EventEmitter<TrackerEvents> {
  #limits: TrackerLimits;
  readonly #now: () => number;
  readonly #records = new Set<ConnectionRecord>();
  readonly #perIp = new Map<string, number>();
  readonly #perRoute = new Map<string, number>();
  readonly #rates: RateBuckets;
  #nextId = 1;
  #waiters: (() => void)[] = [];
  /** Limits counted across processes, when set (before any connection). */
  broker: LimitBroker | undefined;

  /** `clock`: rate buckets' time and the sweep's timer (a fake one in tests). */
  constructor(limits: TrackerLimits, clock: Clock = systemClock) {
    super();
    this.#limits = limits;
    this.#now = () => clock.now();
    this.#rates = new RateBuckets(clock);
  }

  /** New limits apply to connections accepted from now on. */
  setLimits(limits: TrackerLimits): void {
    this.#limits = limits;
  }

  get active(): number {
    return this.#records.size;
  }

  /** Open connections, in the order they were opened (a Set keeps insertion order). */
  records(): IterableIterator<ConnectionRecord> {
    return this.#records.values();
  }

  /**
   * Tracks an accepted socket. The total limit is checked here, before anything is read;
   * the per-IP limits by `admit()`, once the client's real address is known.
   */
  open(client: Socket, listener: string, clientIp: string): ConnectionRecord | LimitName {
    if (this.#records.size >= this.#limits.maxConnections) return this.#refuse('total', listener);
    const record: ConnectionRecord = {
      id: this.#nextId++, listener, clientIp, openedAt: this.#now(), state: 'accepted',
      route: undefined, target: undefined, reason: undefined, client, backend: undefined, abort: undefined,
    };
    this.#records.add(record);
    return record;
  }

  /** Counts the record against its client IP: the per-IP limit and the per-IP rate of new connections. */
  admit(record: ConnectionRecord): LimitName | undefined {
    const ip = record.clientIp;
    const count = this.#perIp.get(ip) ?? 0;
    if (count >= this.#limits.perIp) return this.#refuse('per-ip', record.listener);
    if (!this.#rates.take(ip, this.#limits.newPerSecondPerIp)) return this.#refuse('rate-per-ip', record.listener);
    this.#perIp.set(ip, count + 1);
    record.state = 'routing';
    return undefined;
  }

  /** Assigns the route, within its connection limit. */
  assignRoute(record: ConnectionRecord, route: string, maxConnections: number): LimitName | undefined {
    const count = this.#perRoute.get(route) ?? 0;
    if (count >= maxConnections) return this.#refuse('per-route', record.listener);
    this.#perRoute.set(route, count + 1);
    record.route = route;
    return undefined;
  }

  /**
   * After the local check of `kind` passed: with a broker, asks it (a refusal is counted as the
   * local ones are); without one, answers at once. `then` is not called for a record that
   * closed meanwhile (what was granted it is given back).
   */
  share(record: ConnectionRecord, kind: SharedLimit, key: string, then: (refused: boolean) => void, max?: number): void {
    const broker = this.broker;
    if (broker === undefined) return then(false);
    const limits = this.#limits;
    const ceiling = max ?? (kind === 'total' ? limits.maxConnections : limits.perIp);
    void broker.acquire(kind, key, ceiling, limits.newPerSecondPerIp).then((refused) => {
      if (refused === undefined) (record.grants ??= []).push(kind, key);
      if (record.state === 'closed') return this.#release(record);
      if (refused !== undefined) this.#refuse(refused, record.listener);
      then(refused !== undefined);
    });
  }

  #release(record: ConnectionRecord): void {
    const grants = record.grants;
    if (grants === undefined) return;
    record.grants = undefined;
    for (let i = 0; i < grants.length; i += 2) this.broker?.release(grants[i] as SharedLimit, grants[i + 1]!);
  }

  setState(record: ConnectionRecord, state: Exclude<ConnectionState, 'closed'>): void {
    if (record.state !== 'closed') record.state = state;
  }

  /** Closes the record once: later calls are no-ops. Returns whether this call closed it. */
  close(record: ConnectionRecord, reason: CloseReason): boolean {
    if (record.state === 'closed') return false;
    const admitted = record.state !== 'accepted';
    record.state = 'closed';
    record.reason = reason;
    this.#records.delete(record);
    if (admitted) decrement(this.#perIp, record.clientIp);
    if (record.route !== undefined) decrement(this.#perRoute, record.route);
    this.#release(record);
    this.emit('closed', record);
    if (this.#records.size === 0) for (const resolve of this.#waiters.splice(0)) resolve();
    return true;
  }

  /** Resolves when no connection is open. */
  whenIdle(): Promise<void> {
    if (this.#records.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Connections by route (unrouted ones under ""), for metrics. */
  countsByRoute(): Map<string, number> {
    return new Map(this.#perRoute);
  }

  /** Distinct client IPs holding connections, and IPs with rate state: both shrink back. */
  get trackedIps(): { connected: number; rateState: number } {
    return { connected: this.#perIp.size, rateState: this.#rates.size };
  }

  stop(): void {
    this.#rates.stop();
  }

  #refuse(limit: LimitName, listener: string): LimitName {
    this.emit('refused', limit, listener);
    return limit;
  }
}
