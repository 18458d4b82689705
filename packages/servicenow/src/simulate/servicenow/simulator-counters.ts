import type { ServerResponse } from 'node:http';
import { systemClock, type Clock } from 'holdfast/internal/clock.js';

export interface SimulatorStats {
  requests: number;
  byStatus: Record<string, number>;
  connections: number;
  resets: number;
  truncated: number;
  cancelled: number;
  queueRejected: number;
  refusals: number;
  /** The most requests that arrived within one wall-clock second. */
  peakRequestsPerSecond: number;
  /** The most requests in progress at once. */
  peakInFlight: number;
}

/** The simulator's counters: what a test reads at the server to check a client's budget. */
export class SimulatorCounters {
  readonly stats: SimulatorStats = { requests: 0, byStatus: {}, connections: 0, resets: 0, truncated: 0, cancelled: 0, queueRejected: 0, refusals: 0, peakRequestsPerSecond: 0, peakInFlight: 0 };
  readonly #clock: Clock;
  #second = 0;
  #inSecond = 0;

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }
  #inFlight = 0;

  /** Counts a request toward the totals, the per-second peak and the in-flight peak (until its response closes). */
  request(response: ServerResponse): void {
    const stats = this.stats;
    stats.requests++;
    const second = Math.floor(this.#clock.wallNow() / 1000);
    if (second !== this.#second) {
      this.#second = second;
      this.#inSecond = 0;
    }
    stats.peakRequestsPerSecond = Math.max(stats.peakRequestsPerSecond, ++this.#inSecond);
    stats.peakInFlight = Math.max(stats.peakInFlight, ++this.#inFlight);
    response.once('close', () => { this.#inFlight--; });
  }
}
