import type { LoggerLike } from './peer-types.js';
import type { ClientMetrics } from '../observe/client-metrics.js';
import { publish } from './channels.js';

/**
 * One dispatcher's voice: every event goes to its diagnostics channel (global,
 * documented in docs/reference/client.md), to this dispatcher's own events ('replay', 'retry')
 * and, when they are on, to its own metrics and logger. Components call it instead of publishing directly, so two
 * dispatchers in one process never mix their metrics.
 */
export class Telemetry {
  readonly metrics: ClientMetrics | undefined;
  readonly logger: LoggerLike | undefined;
  /** This dispatcher's own events ('replay', 'retry'): what a user of one dispatcher listens to, instead of a process-wide channel. */
  readonly #emit: ((event: 'replay' | 'retry', message: object) => void) | undefined;

  constructor(metrics?: ClientMetrics, logger?: LoggerLike, emit?: (event: 'replay' | 'retry', message: object) => void) {
    this.metrics = metrics;
    this.logger = logger;
    this.#emit = emit;
  }

  replay(origin: string, method: string, path: string): void {
    const message = { origin, method, path };
    publish('replay', message);
    this.metrics?.replays.inc({ origin });
    this.#emit?.('replay', message);
  }

  retry(message: { origin: string; method: string; path: string; attempt: number; delayMs: number; reason: string }): void {
    publish('retry', message);
    this.metrics?.retries.inc({ origin: message.origin, reason: message.reason });
    this.#emit?.('retry', message);
  }

  retryDenied(message: { origin: string; method: string; path: string; reason: string }): void {
    publish('retryDenied', message);
  }

  socketRetired(message: { origin: string; reason: string; idleMs: number }): void {
    publish('socketRetired', message);
    this.metrics?.socketsRetired.inc({ origin: message.origin, reason: message.reason });
  }

  idleClose(message: { origin: string; idleMs: number; verdict: string; learnedMs: number | undefined }): void {
    publish('idleClose', message);
  }

  idleCloseLearned(message: { origin: string; idleMs: number; limitMs: number }): void {
    publish('idleCloseLearned', message);
    this.logger?.info(message, 'server closed an idle connection; idle limit lowered');
  }

  breaker(event: { origin: string; from: string; to: string }): void {
    publish('breaker', event);
    this.metrics?.breakerTransitions.inc(event);
    if (event.to === 'open' || event.to === 'isolated') this.logger?.warn(event, 'circuit breaker opened');
    else this.logger?.info(event, 'circuit breaker changed state');
  }

  queueWait(origin: string, waitedMs: number): void {
    this.metrics?.queueWait.observe({ origin }, waitedMs / 1000);
  }

  tokenDenied(origin: string): void {
    this.metrics?.tokensDenied.inc({ origin });
  }
}
