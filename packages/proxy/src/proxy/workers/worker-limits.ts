import type { LimitBroker, LimitName, SharedLimit } from '../../net/connection-tracker.js';
import { toSupervisor } from './messages.js';

/**
 * A worker's LimitBroker: each question goes to the supervisor (limit-counts.ts), which counts
 * every worker's connections, and the answer comes back on the same channel. Without a
 * supervisor (it is gone, and this worker is draining) every question is granted: the worker's
 * own limits still hold.
 */
export class WorkerLimits implements LimitBroker {
  #next = 0;
  readonly #pending = new Map<number, (refused: LimitName | undefined) => void>();

  acquire(kind: SharedLimit, key: string, max: number, ratePerSecond: number): Promise<LimitName | undefined> {
    const id = ++this.#next;
    return new Promise((resolve) => {
      this.#pending.set(id, resolve);
      if (!toSupervisor({ holdfast: 'acquire', id, kind, key, max, ratePerSecond })) this.answer(id, undefined);
    });
  }

  release(kind: SharedLimit, key: string): void {
    toSupervisor({ holdfast: 'release', kind, key });
  }

  /** The supervisor's answer to question `id`. */
  answer(id: number, refused: LimitName | undefined): void {
    const resolve = this.#pending.get(id);
    this.#pending.delete(id);
    resolve?.(refused);
  }

  /** The supervisor is gone: every open question is granted. */
  disconnected(): void {
    for (const resolve of this.#pending.values()) resolve(undefined);
    this.#pending.clear();
  }
}
