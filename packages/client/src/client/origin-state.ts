import type { Clock } from '../clock.js';
import { Bulkhead } from '../policy/bulkhead.js';
import { CircuitBreaker, type BreakerState } from '../policy/circuit-breaker.js';
import { KeepAliveAlignment, parseKeepAliveHint } from '../policy/keep-alive.js';
import { LatencyEstimator } from '../policy/latency-estimator.js';
import { RecentMax } from '../policy/recent-max.js';
import { RetryBudget } from '../policy/retry-budget.js';
import { TokenBucket } from '../policy/token-bucket.js';
import type { ResolvedDispatcherOptions } from './options.js';
import { LocalTokens, type TokenSource } from './shared-rate-limit.js';
import { Telemetry } from './telemetry.js';
import type { RequestSeries } from '../observe/client-metrics.js';

/** Everything holdfast remembers about one origin, shared by its pool and its interceptors. */
export class OriginState {
  readonly origin: string;
  readonly keepAlive: KeepAliveAlignment;
  readonly retryBudget: RetryBudget;
  readonly breaker: CircuitBreaker | undefined;
  readonly bulkhead: Bulkhead | undefined;
  /** Rate-limit tokens: a local bucket per origin, or the dispatcher's shared Redis limit. */
  readonly tokens: TokenSource | undefined;
  readonly telemetry: Telemetry;
  /** Recent latency, for the adaptive per-attempt timeout (when on). */
  readonly latency: LatencyEstimator | undefined;
  /** Recent latency of won attempts, for the hedge delay (when hedging is on). */
  readonly hedgeLatency: LatencyEstimator | undefined;
  /** The slowest recent time from a request's write to its first response byte, for silent-drop detection. */
  readonly firstByte = new RecentMax(60_000);
  readonly silentDrop: ResolvedDispatcherOptions['silentDrop'];
  /** Sockets open to this origin, and how many of them are idle; kept by TrackedClient. */
  socketsOpen = 0;
  socketsIdle = 0;
  /** Metric series of this origin's requests, by method and code (see ClientMetrics.requestDone). */
  readonly requestSeries = new Map<string, Map<number | string, RequestSeries>>();
  #attempts: { value: number } | undefined;
  #lastHint: string | undefined;

  constructor(
    origin: string,
    options: Pick<ResolvedDispatcherOptions, 'keepAlive' | 'retry' | 'breaker' | 'limit' | 'rateLimit'> & Partial<Pick<ResolvedDispatcherOptions, 'silentDrop'>> & Partial<Pick<ResolvedDispatcherOptions, 'adaptiveTimeout' | 'hedge'>>,
    { clock, telemetry = new Telemetry(), onBreaker = () => {}, sharedTokens }: {
      clock: Clock;
      telemetry?: Telemetry;
      onBreaker?: (origin: string, from: BreakerState, to: BreakerState) => void;
      sharedTokens?: TokenSource;
    },
  ) {
    this.origin = origin;
    this.telemetry = telemetry;
    this.keepAlive = new KeepAliveAlignment(options.keepAlive);
    this.silentDrop = options.silentDrop ?? false;
    this.retryBudget = new RetryBudget(options.retry.budget);
    this.breaker = options.breaker === undefined ? undefined : new CircuitBreaker(options.breaker, (from, to) => onBreaker(origin, from, to));
    this.latency = options.adaptiveTimeout === undefined ? undefined : new LatencyEstimator(options.adaptiveTimeout);
    this.hedgeLatency = options.hedge === undefined ? undefined : new LatencyEstimator(options.hedge);
    this.bulkhead = options.limit === undefined ? undefined : new Bulkhead(options.limit, clock);
    if (this.bulkhead !== undefined) this.bulkhead.onWait = (waitedMs) => telemetry.queueWait(origin, waitedMs);
    const rate = options.rateLimit;
    if (sharedTokens !== undefined || rate === undefined) {
      this.tokens = sharedTokens;
    } else {
      const bucket = new TokenBucket({ capacity: rate.burst ?? Math.max(1, Math.ceil(rate.requestsPerSecond)), refillPerSecond: rate.requestsPerSecond });
      this.tokens = new LocalTokens((now) => bucket.take(now));
    }
  }

  /** One network attempt to this origin, counted when metrics are on. */
  countAttempt(): void {
    const metrics = this.telemetry.metrics;
    if (metrics === undefined) return;
    (this.#attempts ??= metrics.attemptsOf(this.origin)).value++;
  }

  /** Records a response's `Keep-Alive` value; parsed only when it differs from the last one. */
  observeHint(value: string | undefined): void {
    if (value === this.#lastHint) return;
    this.#lastHint = value;
    this.keepAlive.observeHint(parseKeepAliveHint(value));
  }
}

/** Lazily creates one `OriginState` per origin. */
export class OriginRegistry {
  readonly #states = new Map<string, OriginState>();
  readonly #create: (origin: string) => OriginState;

  constructor(create: (origin: string) => OriginState) {
    this.#create = create;
  }

  /** Every origin seen so far. */
  all(): IterableIterator<OriginState> {
    return this.#states.values();
  }

  /** Keyed by the string the caller used as well, so the hot path skips URL parsing. */
  readonly #byRaw = new Map<string, OriginState>();

  #lastRaw: string | undefined;
  #lastState: OriginState | undefined;

  get(origin: string | URL): OriginState {
    const raw = typeof origin === 'string' ? origin : origin.href;
    if (raw === this.#lastRaw) return this.#lastState!;
    const state = this.#lookup(raw, origin);
    this.#lastRaw = raw;
    this.#lastState = state;
    return state;
  }

  #lookup(raw: string, origin: string | URL): OriginState {
    const cached = this.#byRaw.get(raw);
    if (cached !== undefined) return cached;
    const key = typeof origin === 'string' ? new URL(origin).origin : origin.origin;
    let state = this.#states.get(key);
    if (state === undefined) {
      state = this.#create(key);
      this.#states.set(key, state);
    }
    if (this.#byRaw.size < 10_000) this.#byRaw.set(raw, state);
    return state;
  }

  has(origin: string): boolean {
    return this.#states.has(new URL(origin).origin);
  }
}
