import type { Logger } from 'pino';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { WarmProgress } from './cache-warmer.js';
import type { SyncEvent } from './sync-engine.js';
import { SyncMetrics } from './sync-metrics.js';
import type { CycleEvent } from './sync-scheduler.js';
import type { RequestSample } from './table-client.js';

export type MirrorEvent = CycleEvent | { type: 'warm'; progress: WarmProgress } | SyncEvent;

export interface MirrorTelemetryOptions {
  logger: Logger | undefined;
  replica: string;
  /** The mirror's own 'event' emitter: what the web app's live stream and a library user listen to. */
  emit: (event: MirrorEvent) => void;
  lagOf: () => Record<string, number | undefined>;
  waitingOf: () => Record<string, Record<string, number>>;
  wallNow: () => number;
}

/**
 * The mirror's one voice, as client/telemetry.ts is the client's and proxy/telemetry.ts the
 * proxy's: the engine, the scheduler, the warmer, the Table API client and the view report
 * events here, once, and each becomes its metric (sync-metrics.ts, in `registry`, which the
 * dispatcher's holdfast_client_* metrics share), its log line and its 'event'.
 */
export class MirrorTelemetry {
  readonly registry = new Registry();
  readonly #metrics: SyncMetrics;
  readonly #o: MirrorTelemetryOptions;

  constructor(o: MirrorTelemetryOptions) {
    this.#o = o;
    this.#metrics = new SyncMetrics(this.registry, o.lagOf, o.waitingOf, o.wallNow);
    collectDefaultMetrics({ register: this.registry, prefix: 'holdfast_servicenow_process_' });
  }

  /** One Table API request: its outcome and latency. */
  request(sample: RequestSample): void {
    this.#metrics.request(sample);
  }

  /** A page, a delete pass, a table done or failed. */
  sync(event: SyncEvent): void {
    this.#metrics.event(event);
    this.#o.emit(event);
  }

  warm(progress: WarmProgress): void {
    this.#metrics.warm(progress.done / progress.total);
    this.#o.emit({ type: 'warm', progress });
  }

  cycle(event: CycleEvent): void {
    if (event.phase !== 'started') this.#metrics.cycle(event.phase === 'complete' ? 'ok' : 'failed');
    this.#o.logger?.info({ cycle: event.cycle, resumed: event.resumed, error: event.error, replica: this.#o.replica }, `sync cycle ${event.cycle}: ${event.phase}`);
    this.#o.emit(event);
  }

  /** The view could not read the store (Redis away): once per outage, not per status update. */
  storeUnavailable(err: Error): void {
    this.#o.logger?.warn({ err: err.message }, 'store unavailable; serving the last good data');
  }
}
