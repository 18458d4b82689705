import { printable } from 'holdfast/internal/observe/printable.js';
import type { MirrorEvent } from '@holdfast/servicenow/internal/servicenow/mirror.js';

const WIDTH = 30;

/**
 * The first load's progress: a bar redrawn in place on a terminal, or a log line
 * every 10% (and at each table's end) when the output is a file or a pipe.
 */
export class ProgressReporter {
  readonly #tty: NodeJS.WriteStream | undefined;
  readonly #out: (line: string) => void;
  readonly #logged = new Map<string, number>();
  #drawn = false;

  readonly #replica: string;

  constructor(stream: Pick<NodeJS.WriteStream, 'isTTY' | 'write'>, out: (line: string) => void, replica = '') {
    this.#tty = stream.isTTY ? stream as NodeJS.WriteStream : undefined;
    this.#out = out;
    this.#replica = printable(replica);
  }

  /** Prints an event. Text from the instance (an error's message) is escaped: it can neither forge a line nor drive the terminal. */
  event(e: MirrorEvent): void {
    switch (e.type) {
      case 'cycle':
        this.#line(`sync cycle ${e.cycle}: ${e.phase}${e.resumed === true ? ' (resuming an interrupted cycle)' : ''}${e.error === undefined ? '' : `: ${printable(e.error)}`} [replica ${this.#replica}]`);
        break;
      case 'warm':
        this.#progress(`warming ${printable(e.progress.group)}`, 'warm', e.progress.done, e.progress.total);
        if (e.progress.done === e.progress.total) this.#line(`cache warmed: ${e.progress.total} critical groups`);
        break;
      case 'page':
        if (e.kind === 'full') this.#progress(`first load of ${e.table}`, e.table, e.loaded, e.expected);
        break;
      case 'done':
        if (e.kind === 'full') this.#line(`${e.table}: first load complete, ${e.records} records in ${(e.ms / 1000).toFixed(1)} s`);
        break;
      case 'failed':
        this.#line(`${e.table}: sync failed: ${printable(e.error.message)}`);
        break;
      default:
        break;
    }
  }

  #progress(label: string, key: string, done: number, total: number | undefined): void {
    const ratio = total === undefined || total === 0 ? undefined : Math.min(1, done / total);
    if (this.#tty !== undefined) {
      const filled = ratio === undefined ? 0 : Math.round(ratio * WIDTH);
      const bar = ratio === undefined ? '' : `[${'#'.repeat(filled)}${'-'.repeat(WIDTH - filled)}] ${Math.round(ratio * 100)}% `;
      this.#tty.write(`\r\x1b[2K${label} ${bar}${done}${total === undefined ? '' : `/${total}`}`);
      this.#drawn = true;
      return;
    }
    const step = ratio === undefined ? 0 : Math.floor(ratio * 10);
    if ((this.#logged.get(key) ?? -1) >= step) return;
    this.#logged.set(key, step);
    this.#out(`${label}: ${done}${total === undefined ? '' : ` of ${total} (${step * 10}%)`}`);
  }

  #line(text: string): void {
    this.close();
    this.#out(text);
  }

  /** Ends the bar's line, so that what follows starts on a new one. */
  close(): void {
    if (this.#drawn) this.#tty?.write('\n');
    this.#drawn = false;
  }
}
