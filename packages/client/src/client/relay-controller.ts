import type { Controller } from './handler.js';

/**
 * The controller that a layer hands upward when the request it presents outlives any one
 * undici request: across attempts (retry, hedging) or before there is one (a queue). It
 * follows whichever undici controller is current: pause and resume reach it, and so do
 * the raw headers that undici stored on it (undici 8's fetch reads them from there; a
 * controller without them loses every header: nodejs/undici#5345). An abort goes to the
 * layer (`onAbort`), which knows what is current. The layer is its own controller, which
 * spares an object per request.
 */
export abstract class RelayController implements Controller {
  #current: Controller | null = null;
  #paused = false;
  #reason: Error | null = null;

  /** The caller aborted the request (once): stop whatever is current, and fail the request. */
  protected abstract onAbort(reason: Error): void;

  get aborted(): boolean {
    return this.#reason !== null;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get reason(): Error | null {
    return this.#reason;
  }

  get rawHeaders(): Controller['rawHeaders'] {
    return this.#current?.rawHeaders ?? null;
  }

  get rawTrailers(): Controller['rawTrailers'] {
    return this.#current?.rawTrailers ?? null;
  }

  /** The controller followed now, if any. */
  protected get followed(): Controller | null {
    return this.#current;
  }

  /** From now on, pause and resume reach `controller` (a pause already asked for is applied). */
  follow(controller: Controller | null | undefined): void {
    this.#current = controller ?? null;
    if (this.#paused) controller?.pause();
  }

  abort(reason: Error): void {
    if (this.#reason !== null) return;
    this.#reason = reason;
    this.onAbort(reason);
  }

  pause(): void {
    this.#paused = true;
    this.#current?.pause();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#current?.resume();
  }
}
