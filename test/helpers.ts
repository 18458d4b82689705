import { once } from 'node:events';
import { createServer } from 'node:net';
import assert from 'node:assert/strict';
import type { Dispatcher } from 'undici';
import { HoldfastDispatcher } from '../src/client/create-dispatcher.js';
import type { DispatcherOptions } from '../src/client/options.js';
import type { Clock } from '../src/clock.js';

/** A port on 127.0.0.1 with nothing listening: connects to it are refused. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

export async function readBody(data: Dispatcher.ResponseData): Promise<unknown> {
  return data.body.json();
}

/** Creates a dispatcher and checks, at the end of the test, that closing it leaves no socket open. */
export function dispatcherFor(t: { after(fn: () => Promise<void>): void }, options: DispatcherOptions = {}, clock?: Clock): HoldfastDispatcher {
  const dispatcher = new HoldfastDispatcher(options, clock === undefined ? {} : { clock });
  t.after(async () => {
    await dispatcher.close();
    assert.equal(dispatcher.openSockets, 0, 'no socket left open');
  });
  return dispatcher;
}
