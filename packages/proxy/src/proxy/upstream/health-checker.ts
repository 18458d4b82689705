import { Agent, request } from 'undici';
import type { DispatcherOptions } from 'holdfast/internal/client/options.js';
import { systemClock, type Clock } from 'holdfast/internal/clock.js';

/** What the health checker reads and sets of an upstream target (upstream.ts's UpstreamTarget is one). */
export interface CheckedTarget {
  readonly address: string;
  readonly origin: string;
  healthy: boolean;
}

export interface HealthCheckSettings {
  path: string;
  intervalMs: number;
  timeoutMs: number;
  healthyThreshold: number;
  unhealthyThreshold: number;
}

export interface HealthHooks {
  /** One check's result: `pass` is a 2xx or 3xx answer in time. */
  checked(upstream: string, address: string, result: 'pass' | 'fail'): void;
  /** A target crossed a threshold: in rotation again, or out. */
  healthChanged(upstream: string, address: string, healthy: boolean): void;
}

/**
 * Active health checks for an upstream's targets: every `intervalMs`, a GET of `path` to each
 * target on a connection of its own (not the request pool, whose breaker the checks must not
 * trip or reset). `unhealthyThreshold` failures in a row take a target out of rotation;
 * `healthyThreshold` passes in a row bring it back. Targets start healthy, and the first round
 * runs at once.
 */
export class HealthChecker {
  readonly #upstream: string;
  readonly #targets: readonly CheckedTarget[];
  readonly #settings: HealthCheckSettings;
  readonly #hooks: HealthHooks;
  readonly #agent: Agent;
  readonly #streaks = new Map<CheckedTarget, number>();
  #cancel: () => void;
  #stopped = false;

  /** Rounds run on `clock` (unref'd timers), so that a test moves through thresholds without waiting. */
  constructor(upstream: string, targets: readonly CheckedTarget[], settings: HealthCheckSettings, tls: DispatcherOptions['tls'], hooks: HealthHooks, clock: Clock = systemClock) {
    this.#upstream = upstream;
    this.#targets = targets;
    this.#settings = settings;
    this.#hooks = hooks;
    this.#agent = new Agent({ connections: 1, allowH2: false, connectTimeout: settings.timeoutMs, ...(tls === undefined ? {} : { connect: { ...tls } }) });
    const tick = () => {
      this.#cancel = clock.schedule(tick, settings.intervalMs);
      this.#round();
    };
    this.#cancel = clock.schedule(tick, settings.intervalMs);
    this.#round();
  }

  stop(): void {
    this.#stopped = true;
    this.#cancel();
    void this.#agent.destroy();
  }

  #round(): void {
    for (const target of this.#targets) void this.#check(target);
  }

  async #check(target: CheckedTarget): Promise<void> {
    const { path, timeoutMs } = this.#settings;
    let pass: boolean;
    try {
      const response = await request(`${target.origin}${path}`, {
        dispatcher: this.#agent, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs),
      });
      await response.body.dump();
      pass = response.statusCode >= 200 && response.statusCode < 400;
    } catch {
      pass = false;
    }
    if (this.#stopped) return;
    this.#hooks.checked(this.#upstream, target.address, pass ? 'pass' : 'fail');
    // A streak counts passes (> 0) or failures (< 0) in a row.
    const before = this.#streaks.get(target) ?? 0;
    const streak = pass ? Math.max(before, 0) + 1 : Math.min(before, 0) - 1;
    this.#streaks.set(target, streak);
    if (target.healthy && -streak >= this.#settings.unhealthyThreshold) this.#set(target, false);
    else if (!target.healthy && streak >= this.#settings.healthyThreshold) this.#set(target, true);
  }

  #set(target: CheckedTarget, healthy: boolean): void {
    target.healthy = healthy;
    this.#hooks.healthChanged(this.#upstream, target.address, healthy);
  }
}
