/**
 * Issue 20, item 7: holdfast behind an outbound proxy, under its own policies. `proxy: url`
 * uses undici's ProxyAgent and `proxy: 'env'` its EnvHttpProxyAgent (HTTP_PROXY, HTTPS_PROXY,
 * NO_PROXY), over holdfast's pools: a CONNECT tunnel is one of holdfast's pooled sockets.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer as createHttpsServer } from 'node:https';
import { request } from 'undici';
import { startConnectProxy } from '../../../test/support/connect-proxy.js';
import { dispatcherFor, flakyServer } from '../../../test/support/helpers.js';
import { selfSignedCertificate } from '../../../test/support/tls-fixtures.js';
import { createDispatcher } from '../src/index.js';

test('proxy: URL forwards http requests through the proxy, with its credentials', async (t) => {
  const proxy = await startConnectProxy(t);
  const server = await flakyServer(t, {});
  const withCredentials = proxy.url.replace('http://', 'http://user:secret@');
  const dispatcher = dispatcherFor(t, { proxy: withCredentials });
  const res = await request(`${server.url}/a`, { dispatcher });
  assert.equal(res.statusCode, 200);
  await res.body.dump();
  assert.deepEqual(proxy.log, [{ kind: 'forward', target: new URL(server.url).host, proxyAuthorization: `Basic ${Buffer.from('user:secret').toString('base64')}` }]);
});

test('an https origin is tunnelled with CONNECT, and a stale tunnel is replayed on a fresh one', async (t) => {
  const proxy = await startConnectProxy(t);
  const { key, cert } = selfSignedCertificate();
  // Every request on a reused connection is dropped unanswered: the keep-alive race, on a tunnel.
  const server = await flakyServer(t, { tls: { key, cert }, idleCloseMs: 60_000, raceWindowMs: 60_000 });
  const dispatcher = dispatcherFor(t, { proxy: proxy.url, connections: 1, tls: { ca: cert } });
  for (const path of ['/a', '/b']) {
    const res = await request(`${server.url}${path}`, { dispatcher });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  }
  assert.equal(server.stats().dropped, 1, 'the second GET met the race on the reused tunnel');
  assert.deepEqual(proxy.log.map((entry) => entry.kind), ['tunnel', 'tunnel'], 'the replay went through a new tunnel');
});

test('proxy: env follows HTTP_PROXY and skips the proxy for NO_PROXY hosts', async (t) => {
  const proxy = await startConnectProxy(t);
  const viaProxy = await flakyServer(t, {});
  const direct = await flakyServer(t, {});
  const saved = { HTTP_PROXY: process.env.HTTP_PROXY, NO_PROXY: process.env.NO_PROXY, http_proxy: process.env.http_proxy, no_proxy: process.env.no_proxy };
  t.after(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
  delete process.env.http_proxy;
  delete process.env.no_proxy;
  process.env.HTTP_PROXY = proxy.url;
  process.env.NO_PROXY = `127.0.0.1:${direct.port}`;
  const dispatcher = dispatcherFor(t, { proxy: 'env' });
  for (const server of [viaProxy, direct]) {
    const res = await request(`${server.url}/x`, { dispatcher });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  }
  assert.deepEqual(proxy.log.map((entry) => entry.target), [`127.0.0.1:${viaProxy.port}`], 'only the first went through the proxy');
  assert.equal(direct.stats().received, 1, 'the NO_PROXY host was reached directly');
});

test('a proxy option that is not a URL or "env" is refused, naming the option', () => {
  assert.throws(() => createDispatcher({ proxy: 'proxy.example:3128' }), { code: 'HF_ERR_INVALID_OPTION', option: 'proxy' });
  assert.throws(() => createDispatcher({ proxy: 'ftp://proxy.example' }), { code: 'HF_ERR_INVALID_OPTION', option: 'proxy' });
});

test('through a tunnel, ALPN offers only http/1.1 unless http2 is on', async (t) => {
  const proxy = await startConnectProxy(t);
  const { key, cert } = selfSignedCertificate();
  const offered: string[][] = [];
  const server = createHttpsServer({ key, cert, ALPNCallback: ({ protocols }) => { offered.push(protocols); return 'http/1.1'; } }, (_req, res) => res.end('ok'));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => { server.closeAllConnections(); server.close(); await once(server, 'close'); });
  const dispatcher = dispatcherFor(t, { proxy: proxy.url, tls: { ca: cert } });
  const res = await request(`https://127.0.0.1:${(server.address() as { port: number }).port}/`, { dispatcher });
  assert.equal(await res.body.text(), 'ok');
  assert.deepEqual(offered, [['http/1.1']]);
});
