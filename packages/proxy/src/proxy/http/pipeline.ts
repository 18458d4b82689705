import type { ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * One exchange upstream at a time per client connection, as nginx and HAProxy do: requests a
 * client pipelines behind one in flight wait their turn here, in order (Node's server already
 * writes the responses in order). Past `maxDepth` waiting, the connection is paused, so the
 * proxy stops reading until the queue is half empty. When the client leaves, the waiting ones
 * are dropped, never started; the one in flight is aborted by its own exchange.
 *
 * Before this, 600 pipelined requests were 128 upstream requests at once (a pool's worth), and
 * a client that left aborted one of them (issue 19).
 */
export class Pipeline {
  readonly #socket: Duplex;
  readonly #maxDepth: number;
  readonly #waiting: (() => void)[] = [];
  #busy = false;
  #paused = false;
  #closed = false;

  constructor(socket: Duplex, maxDepth: number) {
    this.#socket = socket;
    this.#maxDepth = maxDepth;
    socket.once('close', () => {
      this.#closed = true;
      this.#waiting.length = 0;
    });
  }

  /**
   * Takes the connection's turn for `res` when nothing is in flight (the common case: no
   * pipelining), and says whether it did; the caller then starts at once, with no closure made.
   */
  tryBegin(res: ServerResponse): boolean {
    if (this.#busy) return false;
    this.#busy = true;
    res.once('close', this.#next);
    return true;
  }

  /** Runs `start` now when nothing is in flight on this connection, or once what is has ended (`res` closing ends a turn). */
  enqueue(res: ServerResponse, start: () => void): void {
    const turn = () => {
      if (this.#closed || res.destroyed) return this.#next();
      res.once('close', this.#next);
      start();
    };
    if (!this.#busy) {
      this.#busy = true;
      return turn();
    }
    this.#waiting.push(turn);
    if (this.#waiting.length >= this.#maxDepth && !this.#paused) {
      this.#paused = true;
      this.#socket.pause();
    }
  }

  readonly #next = (): void => {
    const turn = this.#waiting.shift();
    if (this.#paused && this.#waiting.length <= this.#maxDepth / 2) {
      this.#paused = false;
      if (!this.#closed) this.#socket.resume();
    }
    if (turn === undefined) this.#busy = false;
    else turn();
  };
}
