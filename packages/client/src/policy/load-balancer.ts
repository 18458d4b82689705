/** How a target is chosen among several: the one family of the proxy's upstreams (layer-4 and HTTP routes alike). */
export type BalanceStrategy = 'round-robin' | 'least-request' | 'random';

export interface LoadBalancerOptions {
  /** A target's work in progress (requests or connections in flight), for least-request. */
  loadOf?: (index: number) => number;
  /** In [0, 1); injected for tests. */
  random?: () => number;
}

/**
 * Chooses a target index, skipping the ones the caller rules out (unhealthy, ejected, already
 * tried). Pure: no I/O, no clock.
 *
 * - `round-robin`: smooth weighted round-robin (nginx's): each pick adds every target's weight
 *   to its `current`, takes the highest and subtracts the total from it, so weights 5,1,1 give
 *   a a b a c a a, not a a a a a b c. Equal weights take turns.
 * - `least-request`: the fewest in flight per unit of weight; ties go round the targets in turn.
 * - `random`: weighted at random.
 *
 * @example
 * const lb = new LoadBalancer('round-robin', [5, 1, 1]);
 * lb.pick(); // 0
 */
export class LoadBalancer {
  readonly strategy: BalanceStrategy;
  readonly #weights: readonly number[];
  readonly #current: number[];
  readonly #loadOf: (index: number) => number;
  readonly #random: () => number;
  #start = 0;

  constructor(strategy: BalanceStrategy, weights: readonly number[], { loadOf, random = Math.random }: LoadBalancerOptions = {}) {
    this.strategy = strategy;
    this.#weights = weights;
    this.#current = weights.map(() => 0);
    this.#loadOf = loadOf ?? (() => 0);
    this.#random = random;
  }

  /** The chosen target's index, or undefined when `skip` rules every one out. */
  pick(skip: (index: number) => boolean = () => false): number | undefined {
    switch (this.strategy) {
      case 'round-robin': return this.#smoothWeighted(skip);
      case 'least-request': return this.#leastLoaded(skip);
      case 'random': return this.#weightedRandom(skip);
    }
  }

  #smoothWeighted(skip: (index: number) => boolean): number | undefined {
    let best: number | undefined;
    let total = 0;
    for (let i = 0; i < this.#weights.length; i++) {
      if (skip(i)) continue;
      this.#current[i]! += this.#weights[i]!;
      total += this.#weights[i]!;
      if (best === undefined || this.#current[i]! > this.#current[best]!) best = i;
    }
    if (best !== undefined) this.#current[best]! -= total;
    return best;
  }

  #leastLoaded(skip: (index: number) => boolean): number | undefined {
    const n = this.#weights.length;
    const start = this.#start++ % n;
    let best: number | undefined;
    let bestLoad = Infinity;
    for (let k = 0; k < n; k++) {
      const i = (start + k) % n;
      if (skip(i)) continue;
      const load = this.#loadOf(i) / this.#weights[i]!;
      if (load < bestLoad) {
        best = i;
        bestLoad = load;
      }
    }
    return best;
  }

  #weightedRandom(skip: (index: number) => boolean): number | undefined {
    let total = 0;
    for (let i = 0; i < this.#weights.length; i++) if (!skip(i)) total += this.#weights[i]!;
    if (total === 0) return undefined;
    let point = this.#random() * total;
    for (let i = 0; i < this.#weights.length; i++) {
      if (skip(i)) continue;
      point -= this.#weights[i]!;
      if (point < 0) return i;
    }
    return undefined;
  }
}
