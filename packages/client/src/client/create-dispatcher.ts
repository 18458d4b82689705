import { Dispatcher, Pool } from 'undici';
import { systemClock, type Clock } from '../clock.js';
import { fullJitterBackoff } from '../policy/backoff.js';
import { toHandler, type Dispatch, type Interceptor } from './handler.js';
import { resolveDispatcherOptions, type DispatcherOptions, type ResolvedDispatcherOptions } from './options.js';
import { OriginRegistry, OriginState } from './origin-state.js';
import { attemptInterceptor } from './attempt-interceptor.js';
import { hedgeInterceptor } from './hedge-interceptor.js';
import { SharedRateLimit } from './shared-rate-limit.js';
import type { Registry } from 'prom-client';
import type { MetricsRegistry } from './peer-types.js';
import { ClientMetrics, promClient, type OriginSnapshot } from '../observe/client-metrics.js';
import { Telemetry } from './telemetry.js';
import { DispatcherClosedError, InvalidOptionError } from '../errors.js';
import type { BreakerState, BreakerStateName, CircuitBreaker } from '../policy/circuit-breaker.js';
import { retryInterceptor } from './retry-interceptor.js';
import { TrackedClient } from './tracked-client.js';
import { createTransport } from './transport.js';
import { requestTracer } from './request-trace.js';
import './request-policy.js';

/** A circuit breaker transition. */
export interface CircuitEvent {
  origin: string;
  from: BreakerStateName;
  to: BreakerStateName;
}

/** What holdfast knows of one origin's keep-alive behaviour. */
export interface KeepAliveSnapshot {
  /** How long an idle socket to this origin may stay open now. */
  idleLimitMs: number;
  /** The server's latest `Keep-Alive: timeout=` hint. */
  hintMs: number | undefined;
  /** The shortest idle time after which the server was seen closing a socket. */
  learnedMs: number | undefined;
}

/**
 * An undici `Dispatcher` with holdfast's interceptors over per-origin pools:
 *
 *   deadline → retry (stale-socket replay first) → hedge → per attempt (circuit breaker, adaptive
 *     timeout, limits) → Agent → Pool → TrackedClient (keep-alive alignment) → socket
 *
 * Use it with `undici.request`, `fetch(url, { dispatcher })` or `setGlobalDispatcher`.
 */
export class HoldfastDispatcher extends Dispatcher {
  readonly options: ResolvedDispatcherOptions;
  readonly #agent: Dispatcher;
  readonly #origins: OriginRegistry;
  readonly #clock: Clock;
  readonly #dispatch: Dispatch;
  #openSockets = 0;
  #closing = false;
  readonly #registry: Registry | undefined;
  readonly #sharedTokens: SharedRateLimit | undefined;
  #onAllClosed: (() => void)[] = [];

  constructor(options: DispatcherOptions = {}, { clock = systemClock }: { clock?: Clock } = {}) {
    super();
    const resolved = resolveDispatcherOptions(options);
    this.options = resolved;
    this.#clock = clock;
    const redis = resolved.rateLimit?.redis;
    this.#sharedTokens = redis === undefined ? undefined : new SharedRateLimit({ requestsPerSecond: resolved.rateLimit!.requestsPerSecond, ...redis });
    const registry = resolved.metrics === false ? undefined : resolved.metrics === true ? new (promClient().Registry)() : resolved.metrics.registry as Registry; // validated: a prom-client Registry
    const metrics = registry === undefined ? undefined : new ClientMetrics(registry, () => this.#snapshot());
    this.#registry = registry;
    const telemetry = new Telemetry(metrics, resolved.logger, (event, message) => (this as NodeJS.EventEmitter).emit(event, message));
    this.#origins = new OriginRegistry((origin) => new OriginState(origin, resolved, {
      clock,
      telemetry,
      sharedTokens: this.#sharedTokens,
      onBreaker: (o: string, from: BreakerState, to: BreakerState) => {
        const event: CircuitEvent = { origin: o, from: from.name, to: to.name };
        telemetry.breaker(event);
        (this as NodeJS.EventEmitter).emit('circuit', event);
      },
    }));
    const sockets = {
      opened: () => { this.#openSockets++; },
      closed: () => {
        if (--this.#openSockets === 0) for (const resolve of this.#onAllClosed.splice(0)) resolve();
      },
    };
    this.#agent = createTransport(resolved, (origin, opts) => new Pool(origin, {
      ...opts,
      allowH2: resolved.http2, // the Agent is not told (transport.ts); the pool's connector is
      connections: resolved.connections,
      factory: (clientOrigin, clientOpts) => new TrackedClient(clientOrigin, {
        ...clientOpts,
        state: this.#origins.get(String(clientOrigin)),
        clock,
        sockets,
      }),
    }));
    const { retry } = resolved;
    // Innermost first. Chained directly rather than with undici's compose(): see handler.ts.
    // Each policy's interceptor is installed only when the policy is on: an idle layer still costs.
    const perAttempt = metrics !== undefined || resolved.limit !== undefined || resolved.rateLimit !== undefined
      || resolved.breaker !== undefined || resolved.adaptiveTimeout !== undefined;
    const interceptors: Interceptor[] = [
      ...(!perAttempt ? [] : [attemptInterceptor(this.#origins, clock, {
        failureStatuses: new Set(resolved.breaker?.failureStatuses),
        maxTokenWaitMs: resolved.rateLimit?.maxWaitMs ?? 0,
        adaptiveTimeout: resolved.adaptiveTimeout,
        countAttempts: metrics !== undefined,
      })]),
      ...(resolved.hedge === undefined ? [] : [hedgeInterceptor(this.#origins, clock, resolved.hedge.minDelayMs, (origin) => this.#hasRoom(origin))]),
      retryInterceptor({
        maxAttempts: retry.maxAttempts,
        backoff: fullJitterBackoff({ baseMs: retry.baseDelayMs, maxMs: retry.maxDelayMs }),
        statuses: new Set(retry.statuses),
        maxRetryAfterMs: retry.maxRetryAfterMs,
        replay: resolved.replay,
        holdBodyBytes: retry.cutBodyBufferBytes,
        tracer: requestTracer(resolved.tracing),
        deadlineMs: resolved.deadlineMs,
        observeSlowMs: metrics !== undefined || resolved.logger !== undefined ? resolved.slowRequestMs : undefined,
      }, this.#origins, clock),
    ];

    const agent = this.#agent;
    this.#dispatch = interceptors.reduce<Dispatch>((next, interceptor) => interceptor(next), (opts, handler) => agent.dispatch(opts, handler));
    for (const event of ['connect', 'disconnect', 'connectionError', 'drain']) {
      (this.#agent as NodeJS.EventEmitter).on(event, (...args: unknown[]) => (this as NodeJS.EventEmitter).emit(event, ...args));
    }
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    if (this.#closing) {
      toHandler(handler).onResponseError?.(null, new DispatcherClosedError({ origin: String(opts.origin), method: opts.method }));
      return false;
    }
    return this.#dispatch(opts, toHandler(handler));
  }

  /** Whether `origin`'s pool could take one more request now without queueing it (undici's public pool stats). */
  #hasRoom(origin: string): boolean {
    const stats = ((this.#agent as { stats?: unknown }).stats as Record<string, { free: number; connected: number; queued: number } | undefined> | undefined)?.[new URL(origin).origin];
    return stats === undefined || (stats.queued === 0 && (stats.free > 0 || stats.connected < this.options.connections));
  }

  /** The circuit breaker state of `origin`, or undefined when breakers are off or the origin is unseen. */
  circuit(origin: string | URL): BreakerStateName | undefined {
    const key = typeof origin === 'string' ? origin : origin.origin;
    if (!this.#origins.has(key)) return undefined;
    return this.#origins.get(key).breaker?.state(this.#clock.now()).name;
  }

  /**
   * Calls `listener` on every breaker transition of any origin; returns a function that
   * unsubscribes. (The same event is emitted as 'circuit' and published on the
   * `holdfast:client:breaker` diagnostics channel.)
   */
  onCircuitChange(listener: (event: CircuitEvent) => void): () => void {
    const emitter = this as NodeJS.EventEmitter;
    emitter.on('circuit', listener);
    return () => { emitter.off('circuit', listener); };
  }

  /**
   * Calls `listener` on every stale-socket replay of this dispatcher's requests (not another
   * dispatcher's: the `holdfast:client:replay` channel carries every one in the process);
   * returns a function that unsubscribes.
   */
  onReplay(listener: (event: { origin: string; method: string; path: string }) => void): () => void {
    const emitter = this as NodeJS.EventEmitter;
    emitter.on('replay', listener);
    return () => { emitter.off('replay', listener); };
  }

  /** Calls `listener` on every retry this dispatcher schedules; returns a function that unsubscribes. */
  onRetry(listener: (event: { origin: string; method: string; path: string; attempt: number; delayMs: number; reason: string }) => void): () => void {
    const emitter = this as NodeJS.EventEmitter;
    emitter.on('retry', listener);
    return () => { emitter.off('retry', listener); };
  }

  /** Opens `origin`'s breaker until `resetCircuit()`: every request to it is rejected at once. */
  isolate(origin: string | URL): void {
    this.#breakerOf(origin).isolate();
  }

  /** Closes `origin`'s breaker and forgets its history. */
  resetCircuit(origin: string | URL): void {
    this.#breakerOf(origin).reset(this.#clock.now());
  }

  #breakerOf(origin: string | URL): CircuitBreaker {
    const breaker = this.#origins.get(typeof origin === 'string' ? origin : origin.origin).breaker;
    if (breaker === undefined) throw new InvalidOptionError('breaker', 'circuit breakers are off; pass { breaker: true } to createDispatcher');
    return breaker;
  }

  /** Resolves once every socket has closed: undici's own close resolves before idle sockets are gone. */
  #allClosed(): Promise<void> {
    if (this.#openSockets === 0) return Promise.resolve();
    return new Promise((resolve) => this.#onAllClosed.push(resolve));
  }

  /**
   * Lets in-flight and queued requests finish, then closes every socket. Resolves
   * when the last one has closed. Requests dispatched after close() fail with
   * HF_ERR_CLOSED.
   */
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    this.#closing = true;
    const queues = [...this.#origins.all()].map((state) => state.bulkhead?.whenIdle());
    const closed = Promise.all(queues).then(() => this.#agent.close()).then(() => this.#allClosed()).then(() => this.#sharedTokens?.close());
    if (callback === undefined) return closed;
    void closed.then(callback);
  }

  /** Fails in-flight requests and closes every socket at once. */
  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(errOrCallback?: Error | null | (() => void), callback?: () => void): Promise<void> | void {
    const err = typeof errOrCallback === 'function' ? null : (errOrCallback ?? null);
    const cb = typeof errOrCallback === 'function' ? errOrCallback : callback;
    this.#closing = true;
    for (const state of this.#origins.all()) state.bulkhead?.rejectQueued('closed');
    const destroyed = this.#agent.destroy(err).then(() => this.#allClosed()).then(() => this.#sharedTokens?.close());
    if (cb === undefined) return destroyed;
    void destroyed.then(cb);
  }

  /** The prom-client registry holding this dispatcher's `holdfast_client_*` metrics, when metrics are on. */
  get metricsRegistry(): MetricsRegistry | undefined {
    return this.#registry;
  }

  #snapshot(): OriginSnapshot[] {
    const now = this.#clock.now();
    return [...this.#origins.all()].map((state) => ({
      origin: state.origin,
      socketsOpen: state.socketsOpen,
      socketsIdle: state.socketsIdle,
      queueDepth: state.bulkhead?.queued ?? 0,
      breakerState: state.breaker?.state(now).name,
      idleLimitMs: state.keepAlive.idleLimitMs(now),
    }));
  }

  /** Sockets currently open across all origins. Returns to 0 once the dispatcher is closed. */
  get openSockets(): number {
    return this.#openSockets;
  }

  /** What holdfast knows of `origin`'s keep-alive behaviour, or undefined before the first request. */
  keepAlive(origin: string | URL): KeepAliveSnapshot | undefined {
    const key = typeof origin === 'string' ? origin : origin.origin;
    if (!this.#origins.has(key)) return undefined;
    const { keepAlive } = this.#origins.get(key);
    const now = this.#clock.now();
    return { idleLimitMs: keepAlive.idleLimitMs(now), hintMs: keepAlive.hintMs, learnedMs: keepAlive.learnedMs(now) };
  }
}

/**
 * Creates holdfast's resilient dispatcher.
 *
 * @example
 * import { request } from 'undici';
 * import { createDispatcher } from 'holdfast';
 * const dispatcher = createDispatcher({ retry: { maxAttempts: 4 } });
 * const { statusCode, body } = await request('http://127.0.0.1:8080/items', { dispatcher });
 */
export function createDispatcher(options: DispatcherOptions = {}): HoldfastDispatcher {
  return new HoldfastDispatcher(options);
}
