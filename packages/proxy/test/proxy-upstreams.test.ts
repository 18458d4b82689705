import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { pino } from 'pino';
import { parseConfig } from '../src/proxy/config/config-loader.js';
import { ProxyServer } from '../src/proxy/proxy-server.js';
import { fetchOnce, startUpstream, type Info } from '../../../test/support/http-upstream.js';
import { LineWatcher } from '../../../test/support/line-watcher.js';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { closedPort } from '../../../test/support/helpers.js';

/** One GET over a raw TCP connection to `port` (a layer-4 route), answered by whichever upstream it reached. */
async function rawGet(port: number, path: string): Promise<Info> {
  const socket = connect(port, '127.0.0.1');
  socket.end(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  let text = '';
  for await (const chunk of socket) text += String(chunk);
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Info;
}

test('upstreams: routes of both layers naming one upstream share its health checker, so a failing target leaves rotation for all of them (issue 18)', async (t) => {
  const healthy = await startUpstream(t, 'healthy');
  const failing = await startUpstream(t, 'failing');
  failing.health = 503;
  const log = new LineWatcher<Record<string, unknown>>((line) => JSON.parse(line) as Record<string, unknown>);
  const logger = pino({ level: 'info' }, { write: (line: string) => log.feed(line) });
  const clock = new FakeClock(); // one round runs at start; no interval is waited
  const [tcp, web] = [await closedPort(), await closedPort()];
  const proxy = await ProxyServer.start(parseConfig({
    listeners: [{ name: 'tcp', host: '127.0.0.1', port: tcp }, { name: 'web', host: '127.0.0.1', port: web }],
    upstreams: [{
      name: 'shared',
      targets: [`127.0.0.1:${failing.port}`, `127.0.0.1:${healthy.port}`],
      healthCheck: { path: '/health', unhealthyThreshold: 1, intervalMs: 60_000 },
    }],
    routes: [
      { name: 'web', match: { ports: [web] }, action: { type: 'http', routes: [{ name: 'a', action: { type: 'proxy', upstream: 'shared' } }] } },
      { name: 'tcp', action: { type: 'forward', upstream: 'shared' } },
    ],
  }), { logger, clock });
  t.after(() => proxy.shutdown(0));

  const out = await log.waitFor((l) => l.msg === 'target failed its health check: out of rotation' && l.target === `127.0.0.1:${failing.port}`);
  assert.equal(out.upstream, 'shared');
  const health = failing.hits.get('/health');
  for (let i = 0; i < 4; i++) {
    assert.equal((JSON.parse((await fetchOnce(web, '/info')).body) as Info).upstream, 'healthy', 'HTTP route');
    assert.equal((await rawGet(tcp, '/info')).upstream, 'healthy', 'layer-4 route');
  }
  assert.equal(failing.hits.get('/info'), undefined, 'neither layer sent the failing target anything');
  assert.equal(failing.hits.get('/health'), health, 'one checker: no second round of checks started for the second route');
});
