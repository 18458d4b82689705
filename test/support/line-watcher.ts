import type { ChildProcess } from 'node:child_process';

/**
 * The lines a child process prints, as they come: the one watcher every test of a spawned
 * command uses. `waitFor` resolves with the first line (already printed, or to come) that
 * passes `test`, and rejects if the process exits first, with what it printed.
 */
export class LineWatcher<T = string> {
  readonly lines: T[] = [];
  readonly #parse: (text: string) => T;
  #partial = '';
  #waiters: { test: (line: T) => boolean; resolve: (line: T) => void; reject: (err: Error) => void }[] = [];
  #listeners: ((line: T) => void)[] = [];
  #exited: Error | undefined;

  constructor(parse: (text: string) => T = (text) => text as T) {
    this.#parse = parse;
  }

  /** Watches `child`'s stdout; pending and later waits fail once it exits. */
  static of<T = string>(child: ChildProcess, parse?: (text: string) => T): LineWatcher<T> {
    const watcher = new LineWatcher<T>(parse);
    child.stdout!.on('data', (chunk: Buffer) => watcher.feed(chunk));
    child.once('close', (code, signal) => watcher.#exit(new Error(`the process exited (${signal ?? code}) after printing:\n${watcher.text}`)));
    return watcher;
  }

  feed(chunk: Buffer | string): void {
    this.#partial += chunk.toString();
    const parts = this.#partial.split('\n');
    this.#partial = parts.pop()!;
    for (const text of parts) {
      if (text.trim() === '') continue;
      const line = this.#parse(text);
      this.lines.push(line);
      for (const listener of this.#listeners) listener(line);
      this.#waiters = this.#waiters.filter((w) => {
        if (!w.test(line)) return true;
        w.resolve(line);
        return false;
      });
    }
  }

  /** The first line from index `from` on that passes `test` (a RegExp tests a string line). */
  waitFor(test: ((line: T) => boolean) | RegExp, from = 0): Promise<T> {
    const check = test instanceof RegExp ? (line: T) => test.test(String(line)) : test;
    const seen = this.lines.slice(from).find(check);
    if (seen !== undefined) return Promise.resolve(seen);
    if (this.#exited !== undefined) return Promise.reject(this.#exited);
    return new Promise((resolve, reject) => this.#waiters.push({ test: check, resolve, reject }));
  }

  /** Calls `listener` on every line from now on. */
  onLine(listener: (line: T) => void): () => void {
    this.#listeners.push(listener);
    return () => { this.#listeners = this.#listeners.filter((l) => l !== listener); };
  }

  /** Index of the next line, for waiting on lines printed after now. */
  get mark(): number {
    return this.lines.length;
  }

  /** Everything printed so far, one line each. */
  get text(): string {
    return this.lines.map(String).join('\n');
  }

  #exit(err: Error): void {
    this.#exited = err;
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }
}
