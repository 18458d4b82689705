import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { connect } from 'node:net';
import assert from 'node:assert/strict';
import { HoldfastDispatcher } from 'holdfast/internal/client/create-dispatcher.js';
import type { DispatcherOptions } from 'holdfast/internal/client/options.js';
import type { Clock } from 'holdfast/internal/clock.js';
import { FlakyServer, type FlakyOptions } from 'holdfast/internal/simulate/flaky-server.js';
import { LineWatcher } from './line-watcher.js';

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
  // Below Linux's ephemeral range (32768-60999): no server of another test that binds port 0
  // can be handed it meanwhile, as it could a port just freed from that range (a CI run saw a
  // "refused" target answer as another test's echo server).
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const refused = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => { socket.destroy(); resolve(false); });
      socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
    });
    if (refused) return port;
  }
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

/** The built CLI (npm test builds before testing): commands are tested as users run them. */
export const CLI_BIN = fileURLToPath(new URL('../../packages/cli/dist/cli/main.js', import.meta.url));

/**
 * Starts a long-running CLI command (`simulate flaky`, `simulate servicenow`…) as its own
 * process and resolves with the URL it prints when listening; SIGTERM at the end of the test.
 */
export async function serveCommand(t: { after(fn: () => Promise<void>): void }, args: string[]): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [CLI_BIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'close');
    }
  });
  const lines = LineWatcher.of(child);
  const listening = await lines.waitFor(/listening on (\S+)/);
  return { url: /listening on (\S+)/.exec(listening)![1]!, child };
}
