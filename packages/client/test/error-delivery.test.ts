/**
 * Issue 20, item 4: an error says only what is known. `delivery` tells how far the request
 * got (`never-sent`, `sent-no-response`, `response-cut`), and the message of a failure whose
 * outcome is unknown says so, instead of claiming that the server closed an idle connection.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import type { HoldfastError } from '../src/errors.js';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { closedPort, dispatcherFor, flakyServer } from '../../../test/support/helpers.js';

async function failure(promise: Promise<{ body: { text(): Promise<string> } }>): Promise<HoldfastError> {
  try {
    await (await promise).body.text();
  } catch (err) {
    return err as HoldfastError;
  }
  assert.fail('the request succeeded');
}

test('a POST the server applied and then reset: sent, no byte back, outcome unknown', async (t) => {
  const clock = new FakeClock();
  const server = await flakyServer(t, { clock });
  const dispatcher = dispatcherFor(t, { connections: 1 }, clock);
  await (await request(server.url, { dispatcher })).body.dump();
  server.configure({ applyThenReset: 2 });
  const err = await failure(request(`${server.url}/x`, { dispatcher, method: 'POST', body: '{}' }));
  assert.equal(err.code, 'HF_ERR_STALE_SOCKET');
  assert.equal(err.delivery, 'sent-no-response');
  assert.equal(server.stats().processedByMethod.POST, 1, 'the server did apply it');
  assert.match(err.message, /whether the server applied it is unknown/);
  assert.doesNotMatch(err.message, /the server closed an idle/);
});

test('a response cut mid-body: response-cut', async (t) => {
  const server = await flakyServer(t, { cutMidBody: 1 });
  const dispatcher = dispatcherFor(t, { connections: 1, retry: { maxAttempts: 1 } });
  const err = await failure(request(`${server.url}/x`, { dispatcher }));
  assert.equal(err.delivery, 'response-cut');
  assert.match(err.message, /response was cut off/);
});

test('a refused connect: never sent', async (t) => {
  const dispatcher = dispatcherFor(t, { retry: { maxAttempts: 1 } });
  const err = await failure(request(`http://127.0.0.1:${await closedPort()}/`, { dispatcher }));
  assert.equal(err.code, 'HF_ERR_CONNECT');
  assert.equal(err.delivery, 'never-sent');
  assert.match(err.message, /nothing reached the server/);
});
