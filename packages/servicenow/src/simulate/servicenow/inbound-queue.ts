/**
 * The instance's API_INT semaphores: `workers` requests run at once, up to
 * `depth` more wait in FIFO order, and beyond that a request is refused (the
 * caller answers 429). `enter()` resolves with a release function, or undefined
 * when refused.
 */
export class InboundQueue {
  readonly #workers: number;
  readonly #depth: number;
  #running = 0;
  readonly #waiting: ((release: (() => void) | undefined) => void)[] = [];

  constructor(workers: number, depth: number) {
    this.#workers = workers;
    this.#depth = depth;
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  enter(): Promise<(() => void) | undefined> {
    if (this.#running < this.#workers) {
      this.#running++;
      return Promise.resolve(this.#release());
    }
    if (this.#waiting.length >= this.#depth) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #release(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      if (next === undefined) this.#running--;
      else next(this.#release());
    };
  }

  /** Refuses everything still waiting. */
  close(): void {
    for (const waiter of this.#waiting.splice(0)) waiter(undefined);
  }
}
