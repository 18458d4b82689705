/**
 * Issue 20, item 5: a response cut mid-body reached the caller as an error even for a GET
 * (holdfast lost 6 of 6 where got recovered all 6). `retry.cutBodyBufferBytes` (opt-in)
 * holds the body of a request safe to repeat until it is complete, so a cut body is retried
 * before the caller has read any of it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import { dispatcherFor, flakyServer } from '../../../test/support/helpers.js';

test('with cutBodyBufferBytes, a GET whose body is cut is retried and the caller gets the whole body', async (t) => {
  const server = await flakyServer(t, { cutMidBody: 2 }); // the 2nd request's body is cut
  const dispatcher = dispatcherFor(t, { retry: { cutBodyBufferBytes: 65_536, baseDelayMs: 1, maxDelayMs: 1 } });
  await (await request(server.url, { dispatcher })).body.dump();
  const res = await request(`${server.url}/x`, { dispatcher });
  assert.equal(res.statusCode, 200);
  assert.equal((await res.body.json() as { ok: boolean }).ok, true);
  assert.equal(server.stats().processedByMethod.GET, 3, 'sent again after the cut');
});

test('off by default: the cut reaches the caller as response-cut', async (t) => {
  const server = await flakyServer(t, { cutMidBody: 2 });
  const dispatcher = dispatcherFor(t, { retry: { baseDelayMs: 1, maxDelayMs: 1 } });
  await (await request(server.url, { dispatcher })).body.dump();
  const res = await request(`${server.url}/x`, { dispatcher });
  await assert.rejects(res.body.text(), { delivery: 'response-cut' });
  assert.equal(server.stats().processedByMethod.GET, 2);
});

test('a POST without a key is never held or retried: its cut reaches the caller', async (t) => {
  const server = await flakyServer(t, { cutMidBody: 2 });
  const dispatcher = dispatcherFor(t, { retry: { cutBodyBufferBytes: 65_536, baseDelayMs: 1, maxDelayMs: 1 } });
  await (await request(server.url, { dispatcher })).body.dump();
  const res = await request(`${server.url}/x`, { dispatcher, method: 'POST', body: '{}' });
  await assert.rejects(res.body.text(), { delivery: 'response-cut' });
  assert.equal(server.stats().processedByMethod.POST, 1);
});

test('a body larger than the buffer is delivered as it arrives, and not retried once delivered', async (t) => {
  const server = await flakyServer(t, { cutMidBody: 2 });
  const dispatcher = dispatcherFor(t, { retry: { cutBodyBufferBytes: 10, baseDelayMs: 1, maxDelayMs: 1 } });
  await (await request(server.url, { dispatcher })).body.dump();
  const res = await request(`${server.url}/x`, { dispatcher });
  await assert.rejects(res.body.text(), { delivery: 'response-cut' });
  assert.equal(server.stats().processedByMethod.GET, 2);
});
