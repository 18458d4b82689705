import type { Metric, Registry } from 'prom-client';

type Labels = Record<string, string>;

/**
 * Counters and histograms for the per-request path, exposed through a prom-client
 * Registry like any other metric. prom-client hashes a label set on every inc()
 * and observe(); these keep one series object per label set, found by a key the
 * caller builds once, so recording is a field update. Scrapes read them via get().
 */
abstract class FastMetric<S> {
  readonly name: string;
  readonly help: string;
  protected readonly series = new Map<string, { labels: Labels; state: S }>();

  constructor(registry: Registry, name: string, help: string) {
    this.name = name;
    this.help = help;
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series for `labels`, made on first use and kept under `key`. Callers may keep it and update it directly. */
  stateFor(key: string, labels: () => Labels): S {
    let entry = this.series.get(key);
    if (entry === undefined) {
      entry = { labels: labels(), state: this.newState() };
      this.series.set(key, entry);
    }
    return entry.state;
  }

  protected abstract newState(): S;

  reset(): void {
    this.series.clear();
  }
}

export class FastCounter extends FastMetric<{ value: number }> {
  readonly type = 'counter';

  protected newState() {
    return { value: 0 };
  }

  async get() {
    const values = [...this.series.values()].map(({ labels, state }) => ({ labels, value: state.value }));
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }
}

export class FastHistogram extends FastMetric<{ buckets: Float64Array; sum: number; count: number }> {
  readonly type = 'histogram';
  readonly #bounds: readonly number[];

  constructor(registry: Registry, name: string, help: string, bounds: readonly number[]) {
    super(registry, name, help);
    this.#bounds = bounds;
  }

  protected newState() {
    return { buckets: new Float64Array(this.#bounds.length), sum: 0, count: 0 };
  }

  /** Records into a series obtained from `stateFor`. */
  record(state: { buckets: Float64Array; sum: number; count: number }, value: number): void {
    const bounds = this.#bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        state.buckets[i]!++;
        break;
      }
    }
    state.sum += value;
    state.count++;
  }

  async get() {
    const values: { labels: Labels; value: number; metricName: string }[] = [];
    for (const { labels, state } of this.series.values()) {
      let cumulative = 0;
      this.#bounds.forEach((bound, i) => {
        cumulative += state.buckets[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: String(bound), ...labels }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { le: '+Inf', ...labels }, value: state.count });
      values.push({ metricName: `${this.name}_sum`, labels, value: state.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: state.count });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: 'sum' };
  }
}
