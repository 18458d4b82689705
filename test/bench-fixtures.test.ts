/**
 * The benchmarks' fault servers do what their modes say, so that a figure in the README is the
 * client's and not the fixture's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Agent, request } from 'undici';
import { H2FlakyServer } from '../bench/fixtures/h2-flaky-server.js';
import { selfSigned } from '../bench/fixtures/self-signed.js';

test('h2 goaway-load refuses the first stream of a session as not processed, so a plain h2 client sends it again', async (t) => {
  // node:http2 turns a GOAWAY's last-stream-id of 0 into the last stream it received, which
  // promised to answer a stream the fixture then never answered: the request hung (seen as two
  // unkeyed POSTs held to keepalive-race's 10 s give-up).
  const tls = selfSigned();
  const server = await H2FlakyServer.start({ mode: 'goaway-load', idleMs: 60_000, every: 2 }, tls);
  t.after(() => server.close());
  const answers: string[] = [];
  for (const id of ['a', 'b']) {
    // A new session for each request: the second stream the server receives is its session's first.
    const agent = new Agent({ allowH2: true, headersTimeout: 2_000, connect: { ca: tls.cert } });
    t.after(() => agent.destroy());
    const res = await request(`${server.url}/x`, { dispatcher: agent, method: 'POST', body: id, headers: { 'x-request-id': id } });
    answers.push(String((await res.body.json() as { id: string }).id));
  }
  assert.deepEqual(answers, ['a', 'b']);
  const stats = server.stats();
  assert.deepEqual(stats.processedById, { a: 1, b: 1 });
  assert.equal(stats.dropped, 1);
});
