import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { HoldfastDispatcher } from '../src/client/create-dispatcher.js';
import { FlakyServer } from '../src/simulate/flaky-server.js';
import { closedPort } from '../../../test/support/helpers.js';

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

test('dispatch() accepts new-style handlers (onRequestStart…): response, then an error', async (t) => {
  const server = await FlakyServer.start({});
  t.after(() => server.close());
  const dispatcher = new HoldfastDispatcher();
  t.after(() => dispatcher.close());
  const { origin } = new URL(server.url);
  const seen = await new Promise<{ status: number; type: unknown; body: string }>((resolve, reject) => {
    let status = 0;
    let type: unknown;
    const chunks: Buffer[] = [];
    dispatcher.dispatch({ origin, path: '/x', method: 'GET' }, {
      onRequestStart: () => {},
      onResponseStart: (_c, statusCode, headers) => { status = statusCode; type = headers['content-type']; },
      onResponseData: (_c, chunk) => { chunks.push(chunk); },
      onResponseEnd: () => resolve({ status, type, body: Buffer.concat(chunks).toString() }),
      onResponseError: (_c, err) => reject(err),
    });
  });
  assert.equal(seen.status, 200);
  assert.equal(seen.type, 'application/json');
  assert.match(seen.body, /"ok":true/);

  const port = await closedPort();
  const failure = await new Promise<Error>((resolve) => {
    dispatcher.dispatch(
      { origin: `http://127.0.0.1:${port}`, path: '/', method: 'GET', holdfast: { retry: false } },
      { onResponseError: (_c, err) => resolve(err) },
    );
  });
  assert.equal((failure as Error & { code: string }).code, 'HF_ERR_CONNECT');
});

// The flaky upstream's option errors name the option, unknown keys included (it used to say "(options)").
test('option errors name the option, in every validated entry point', async () => {
  await assert.rejects(FlakyServer.start({ bogus: 1 } as never), { code: 'HF_ERR_INVALID_OPTION', option: 'bogus' });
  await assert.rejects(FlakyServer.start({ idleCloseMs: -1 }), { option: 'idleCloseMs' });
  const { createAgent } = await import('../src/client/create-agent.js');
  assert.throws(() => createAgent({ keepAlive: { defaultIdleMs: -5 } }), { option: 'keepAlive.defaultIdleMs' });
});
