/**
 * Issue 20, item 1: a close that is not the server's idle timeout teaches nothing. After each
 * odd close, the next 100 sequential requests (one every 100 ms, on a fake clock shared with
 * the server) still reuse a connection at least 90 times. Before the fix, each of these
 * closes taught an idle limit of a few ms, and every following request opened a connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { request } from 'undici';
import type { FlakyFaults, FlakyServer } from '../src/simulate/flaky-server.js';
import type { HoldfastDispatcher } from '../src/client/create-dispatcher.js';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { dispatcherFor, flakyServer } from '../../../test/support/helpers.js';

function nextMessage(name: string): Promise<unknown> {
  return new Promise((resolve) => {
    const listener = (message: unknown) => {
      diagnosticsChannel.unsubscribe(name, listener);
      resolve(message);
    };
    diagnosticsChannel.subscribe(name, listener);
  });
}

type Setup = { t: Parameters<typeof flakyServer>[0]; clock: FakeClock };

async function send(server: FlakyServer, dispatcher: HoldfastDispatcher, method = 'GET'): Promise<number | string> {
  try {
    const res = await request(`${server.url}/x`, { dispatcher, method, body: method === 'GET' ? undefined : '{"a":1}' });
    await res.body.dump();
    return res.statusCode;
  } catch (err) {
    return (err as { code: string }).code;
  }
}

/** Warms one connection, lets it idle 40 ms, runs `odd` with `faults` on, then counts the connections the next 100 requests open. */
async function afterOddClose({ t, clock }: Setup, faults: FlakyFaults, odd: (server: FlakyServer, dispatcher: HoldfastDispatcher) => Promise<unknown>, from: FlakyFaults = {}) {
  const server = await flakyServer(t, { clock, ...from });
  const dispatcher = dispatcherFor(t, { connections: 1 }, clock);
  assert.equal(await send(server, dispatcher), 200);
  clock.advance(40);
  server.configure(faults);
  await odd(server, dispatcher);
  server.configure({ applyThenReset: 0, resetMidUpload: 0, closeAfterResponses: 0, idle408: false, idleCloseMs: 0 });
  const before = server.stats().connections;
  for (let i = 0; i < 100; i++) {
    clock.advance(100);
    assert.equal(await send(server, dispatcher), 200);
  }
  const opened = server.stats().connections - before;
  assert.ok(opened <= 10, `the next 100 requests opened ${opened} connections`);
  assert.equal(dispatcher.keepAlive(server.url)?.learnedMs, undefined, 'nothing learned');
}

test('a restart (idle connections closed, connects refused a while) teaches no idle limit', async (t) => {
  const clock = new FakeClock();
  await afterOddClose({ t, clock }, {}, async (server) => {
    const windowOpen = clock.nextTimer();
    const refusing = server.refuseFor(50);
    await windowOpen;
    clock.advance(50);
    await refusing;
  });
});

test('a server that applies a request and then resets teaches no idle limit', async (t) => {
  const clock = new FakeClock();
  await afterOddClose({ t, clock }, { applyThenReset: 1 }, async (server, dispatcher) => {
    assert.equal(await send(server, dispatcher, 'POST'), 'HF_ERR_STALE_SOCKET');
    assert.equal(server.stats().processedByMethod.POST, 1, 'the POST was applied, then reset');
  });
});

test('a reset in the middle of an upload teaches no idle limit', async (t) => {
  const clock = new FakeClock();
  await afterOddClose({ t, clock }, { resetMidUpload: 1 }, async (server, dispatcher) => {
    assert.equal(await send(server, dispatcher, 'POST'), 'HF_ERR_STALE_SOCKET');
  });
});

test('a close right after the Nth response is a request limit, not an idle time', async (t) => {
  const clock = new FakeClock();
  await afterOddClose({ t, clock }, { closeAfterResponses: 2 }, async (server, dispatcher) => {
    assert.equal(await send(server, dispatcher), 200);
    const closes = server.stats().connections;
    clock.advance(40);
    assert.equal(await send(server, dispatcher), 200);
    assert.equal(server.stats().connections, closes + 1, 'the server did close after its 2nd response');
  });
});

test('one 408 on an idle connection is one observation, not yet a limit', async (t) => {
  const clock = new FakeClock();
  const closed = nextMessage('holdfast:client:idle-close');
  await afterOddClose({ t, clock }, {}, async (server) => {
    clock.advance(460); // idle 500 ms in all: the server sends its 408 and closes
    assert.deepEqual(await closed, { origin: server.url, idleMs: 500, verdict: 'counted', learnedMs: undefined });
  }, { idleCloseMs: 500, idle408: true });
});
