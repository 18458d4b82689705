import { systemClock, type Clock } from 'holdfast/internal/clock.js';
import { glideDateTime, type InstanceData } from './instance-data.js';
import { CHANGE_TASK_STATES, HOLD_REASONS, INACTIVE_STATES, INCIDENT_STATES, SC_TASK_STATES } from './tables.js';

const STATES: Record<string, string[]> = {
  incident: Object.keys(INCIDENT_STATES),
  change_task: Object.keys(CHANGE_TASK_STATES),
  sc_task: Object.keys(SC_TASK_STATES),
};
const TABLES = Object.keys(STATES);
const TICK_MS = 100;

/**
 * Live activity on the task tables: `perSecond` writes, 70% updates (a new
 * state, and a hold reason for an on-hold incident), 20% creates and 10%
 * deletes (each recorded in sys_audit_delete), applied every 100 ms.
 */
export class Churn {
  readonly #data: InstanceData;
  readonly #random: () => number;
  readonly #clock: Clock;
  #cancel: () => void;
  #owed = 0;
  /** Writes made so far, by kind. */
  readonly counts = { updated: 0, created: 0, deleted: 0 };

  /** Ticks on `clock` (unref'd timers), a fake one in tests. */
  constructor(data: InstanceData, perSecond: number, random: () => number, clock: Clock = systemClock) {
    this.#data = data;
    this.#random = random;
    this.#clock = clock;
    const tick = () => {
      this.#cancel = clock.schedule(tick, TICK_MS);
      this.#owed += (perSecond * TICK_MS) / 1000;
      for (; this.#owed >= 1; this.#owed--) this.step();
    };
    this.#cancel = clock.schedule(tick, TICK_MS);
  }

  /** One write. */
  step(): void {
    const name = TABLES[Math.floor(this.#random() * TABLES.length)]!;
    const table = this.#data.table(name)!;
    const rows = table.byUpdated();
    const roll = this.#random();
    const pick = () => rows[Math.floor(this.#random() * rows.length)];
    if (roll < 0.2 || rows.length === 0) {
      const template = pick();
      this.#data.create(table, { short_description: template?.short_description ?? 'Created by churn', assignment_group: template?.assignment_group ?? '', state: STATES[name]![0], priority: '4' }, 'churn');
      this.counts.created++;
    } else if (roll < 0.3) {
      this.#data.delete(table, pick()!, 'churn');
      this.counts.deleted++;
    } else {
      const states = STATES[name]!;
      const state = states[Math.floor(this.#random() * states.length)]!;
      const changes: Record<string, string> = { state };
      if (name === 'incident') {
        const reasons = Object.keys(HOLD_REASONS);
        changes.incident_state = state;
        changes.hold_reason = state === '3' ? reasons[Math.floor(this.#random() * reasons.length)]! : '';
      }
      if (INACTIVE_STATES[name]!.includes(state)) changes.closed_at = glideDateTime(this.#clock.wallNow());
      this.#data.update(table, pick()!, changes, 'churn');
      this.counts.updated++;
    }
  }

  stop(): void {
    this.#cancel();
  }
}
