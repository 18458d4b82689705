import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { HoldfastDispatcher } from '../src/client/create-dispatcher.js';
import { FlakyServer } from '../src/simulate/flaky-server.js';

// Regression: undici's Agent#close() resolves before idle sockets have emitted
// 'close'; holdfast's close() resolves only once every socket is gone.
test('close() resolves only after every socket has closed', async (t) => {
  const server = await FlakyServer.start({});
  t.after(() => server.close());
  const dispatcher = new HoldfastDispatcher({ connections: 4 });
  const responses = await Promise.all(Array.from({ length: 4 }, () => request(server.url, { dispatcher })));
  await Promise.all(responses.map((r) => r.body.dump()));
  assert.ok(dispatcher.openSockets > 0);
  await dispatcher.close();
  assert.equal(dispatcher.openSockets, 0);
});

test('destroy() fails in-flight requests with HF_ERR_CLOSED and closes every socket', async (t) => {
  const server = await FlakyServer.start({ slowMs: 10_000 });
  t.after(() => server.close());
  const dispatcher = new HoldfastDispatcher();
  const pending = request(server.url, { dispatcher });
  const failed = assert.rejects(pending, { code: 'HF_ERR_CLOSED' });
  await new Promise<void>((resolve) => dispatcher.once('connect', () => resolve()));
  await dispatcher.destroy();
  await failed;
  assert.equal(dispatcher.openSockets, 0);
});
