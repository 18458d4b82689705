import { once } from 'node:events';
import { createServer } from 'node:net';
import assert from 'node:assert/strict';
import { HoldfastDispatcher } from '../src/client/create-dispatcher.js';
import type { DispatcherOptions } from '../src/client/options.js';
import type { Clock } from '../src/clock.js';
import { FlakyServer, type FlakyOptions } from '../src/simulate/flaky-server.js';

/** Starts a flaky upstream on 127.0.0.1 port 0; at the end of the test, closes it and checks no connection is left. */
export async function flakyServer(t: { after(fn: () => Promise<void>): void }, options: FlakyOptions = {}): Promise<FlakyServer> {
  const server = await FlakyServer.start(options);
  t.after(async () => {
    await server.close();
    assert.equal(server.openConnections, 0, 'the upstream has no connection left');
  });
  return server;
}

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

/** Creates a dispatcher and checks, at the end of the test, that closing it leaves no socket open. */
export function dispatcherFor(t: { after(fn: () => Promise<void>): void }, options: DispatcherOptions = {}, clock?: Clock): HoldfastDispatcher {
  const dispatcher = new HoldfastDispatcher(options, clock === undefined ? {} : { clock });
  t.after(async () => {
    await dispatcher.close();
    assert.equal(dispatcher.openSockets, 0, 'no socket left open');
  });
  return dispatcher;
}
