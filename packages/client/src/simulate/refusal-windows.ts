import type { AddressInfo, Server } from 'node:net';
import { systemClock, type Clock } from '../clock.js';

/** Starts `server` listening; resolves with the bound address, rejects on a listen error. */
export function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/**
 * Windows in which a server refuses connections, as a restarting server does:
 * the listener closes (connects get ECONNREFUSED), then reopens on the same
 * address. Once on demand (`refuseFor`), or `forMs` out of every `everyMs`.
 */
export class RefusalWindows {
  readonly #server: Server;
  readonly #address: () => { host: string; port: number };
  readonly #onRefuse: () => void;
  readonly #clock: Clock;
  #cancelSchedule: (() => void) | undefined;
  #stopped = false;
  /** Ends the wait of a window in progress at once, so that a stopped server leaves no timer behind. */
  #endWindow: (() => void) | undefined;

  /** `onRefuse` runs each time the listener has closed (to count, or to drop idle connections). */
  constructor(server: Server, address: () => { host: string; port: number }, onRefuse: () => void, clock: Clock = systemClock) {
    this.#clock = clock;
    this.#server = server;
    this.#address = address;
    this.#onRefuse = onRefuse;
  }

  async refuseFor(ms: number): Promise<void> {
    if (this.#stopped) return;
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#onRefuse();
    if (this.#stopped) return; // stopped while the listener closed: no window to wait out
    await new Promise<void>((resolve) => {
      const cancel = this.#clock.schedule(resolve, ms);
      this.#endWindow = () => { cancel(); resolve(); };
    });
    this.#endWindow = undefined;
    if (this.#stopped) return;
    const { host, port } = this.#address();
    await listen(this.#server, host, port);
  }

  /** Refuses for `forMs` out of every `everyMs` from now on (replacing any earlier schedule); undefined stops it. */
  schedule(windows: { everyMs: number; forMs: number } | undefined): void {
    this.#cancelSchedule?.();
    if (windows === undefined || this.#stopped) return;
    this.#cancelSchedule = this.#clock.schedule(() => void this.refuseFor(windows.forMs).then(() => this.schedule(windows)), Math.max(0, windows.everyMs - windows.forMs));
  }

  /** No more windows; a window in progress does not reopen the listener. */
  stop(): void {
    this.#stopped = true;
    this.#cancelSchedule?.();
    this.#endWindow?.();
  }
}
