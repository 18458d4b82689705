import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventStream, HEARTBEAT_MS } from '../src/servicenow/web/event-stream.js';
import { FakeClock } from '../../../test/support/fake-clock.js';

test('the event stream\'s heartbeat runs on the injected clock: no test waits 15 s for it (issue 18)', async (t) => {
  const clock = new FakeClock();
  const events = new EventStream(clock);
  const server = createServer((_req, res) => events.add(res, [['hello', { n: 1 }]]));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => { events.close(); server.close(); });
  const req = request({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', path: '/' });
  req.end();
  const [res] = (await once(req, 'response')) as [IncomingMessage];
  let text = '';
  const received = (pattern: RegExp) => new Promise<void>((resolve) => {
    const check = () => { if (pattern.test(text)) { res.off('data', onData); resolve(); } };
    const onData = (chunk: Buffer) => { text += chunk.toString(); check(); };
    res.on('data', onData);
    check();
  });
  await received(/event: hello\ndata: \{"n":1\}/);
  assert.doesNotMatch(text, /keep-alive/);
  clock.advance(HEARTBEAT_MS);
  await received(/: keep-alive\n\n/);
  clock.advance(HEARTBEAT_MS);
  await received(/: keep-alive\n\n[^]*: keep-alive\n\n/);
});
