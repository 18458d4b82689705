import type { ServerResponse } from 'node:http';
import { systemClock, type Clock } from 'holdfast/internal/clock.js';

export const HEARTBEAT_MS = 15_000;

/**
 * Server-sent events to every open dashboard. A client that goes away is dropped on
 * its 'close'; a slow one whose buffer is full misses updates rather than growing
 * the server's memory (the next update carries the whole state anyway).
 */
export class EventStream {
  readonly #clients = new Set<ServerResponse>();
  #cancelHeartbeat: () => void;

  /** A comment line every HEARTBEAT_MS keeps proxies from closing an idle stream (timers on `clock`, unref'd). */
  constructor(clock: Clock = systemClock) {
    const beat = () => {
      this.#cancelHeartbeat = clock.schedule(beat, HEARTBEAT_MS);
      for (const res of this.#clients) res.write(': keep-alive\n\n');
    };
    this.#cancelHeartbeat = clock.schedule(beat, HEARTBEAT_MS);
  }

  get size(): number {
    return this.#clients.size;
  }

  /** Takes over `res` as an event stream and sends it `initial` events. */
  add(res: ServerResponse, initial: [event: string, data: unknown][]): void {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.on('error', () => this.#clients.delete(res));
    res.on('close', () => this.#clients.delete(res));
    this.#clients.add(res);
    res.write('retry: 2000\n\n');
    for (const [event, data] of initial) this.#write(res, event, JSON.stringify(data));
  }

  send(event: string, data: unknown): void {
    if (this.#clients.size === 0) return;
    const json = JSON.stringify(data);
    for (const res of this.#clients) if (!res.writableNeedDrain) this.#write(res, event, json);
  }

  #write(res: ServerResponse, event: string, json: string): void {
    res.write(`event: ${event}\ndata: ${json}\n\n`);
  }

  close(): void {
    this.#cancelHeartbeat();
    for (const res of this.#clients) res.end();
    this.#clients.clear();
  }
}
