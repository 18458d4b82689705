/**
 * Issue 22, item 4: rewrites per HTTP route. Request headers set, added and removed; response
 * headers set and removed; a path prefix stripped or replaced; the Host sent upstream. All
 * validated at load, the field named. Real sockets, an in-process proxy, an upstream that
 * answers with what it received.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../src/proxy/config/config-loader.js';
import type { ProxyConfigInput } from '../src/proxy/config/config.js';
import { ProxyServer } from '../src/proxy/proxy-server.js';
import { fetchOnce, startUpstream, type Info } from '../../../test/support/http-upstream.js';
import { freePort } from '../../../test/support/pebble.js';

function config(port: number, upstream: number, routes: unknown[]): ProxyConfigInput {
  return {
    listeners: [{ host: '127.0.0.1', port }],
    upstreams: [{ name: 'app', targets: [`127.0.0.1:${upstream}`] }],
    routes: [{ name: 'web', action: { type: 'http', routes } }],
  } as ProxyConfigInput;
}

test('rewrites: request headers set, added and removed, the Host, a path prefix stripped or replaced, response headers set and removed', async (t) => {
  const app = await startUpstream(t, 'app');
  const port = await freePort();
  const proxy = await ProxyServer.start(parseConfig(config(port, app.port, [
    {
      name: 'api', match: { pathPrefix: '/api/' }, action: { type: 'proxy', upstream: 'app' },
      rewrite: {
        path: { stripPrefix: '/api' },
        host: 'app.internal:8080',
        requestHeaders: { set: { 'X-Api-Version': '2' }, add: { 'x-tag': 'proxy' }, remove: ['cookie', 'x-drop'] },
        responseHeaders: { set: { 'cache-control': 'no-store' }, remove: ['content-type'] },
      },
    },
    { name: 'old', match: { pathPrefix: '/old/' }, action: { type: 'proxy', upstream: 'app' }, rewrite: { path: { replacePrefix: { from: '/old/', to: '/info/' } } } },
    { name: 'moved', match: { pathPrefix: '/moved/' }, action: { type: 'redirect', location: 'https://{host}{path}', status: 301 }, rewrite: { path: { replacePrefix: { from: '/moved/', to: '/new/' } }, responseHeaders: { set: { 'x-why': 'moved' } } } },
    { name: 'rest', action: { type: 'proxy', upstream: 'app' } },
  ])));
  t.after(() => proxy.shutdown(0));

  const api = await fetchOnce(port, '/api/info?q=1', { headers: { host: 'www.example.test', 'x-api-version': '1', 'x-tag': 'client', cookie: 'session=secret', 'x-drop': 'a', 'x-keep': 'b' } });
  assert.equal(api.status, 200);
  const seen = JSON.parse(api.body) as Info;
  assert.equal(seen.url, '/info?q=1', 'the prefix stripped, the query kept');
  assert.equal(seen.headers.host, 'app.internal:8080');
  assert.equal(seen.headers['x-api-version'], '2', 'set replaces the client\'s');
  assert.equal(seen.headers['x-tag'], 'client, proxy', 'add comes after the client\'s');
  assert.equal(seen.headers.cookie, undefined);
  assert.equal(seen.headers['x-drop'], undefined);
  assert.equal(seen.headers['x-keep'], 'b');
  assert.equal(seen.headers['x-forwarded-host'], 'www.example.test', 'the client\'s host is still forwarded');
  assert.equal(api.headers['cache-control'], 'no-store');
  assert.equal(api.headers['content-type'], undefined);

  const old = JSON.parse((await fetchOnce(port, '/old/x', { headers: { host: 'www.example.test' } })).body) as Info;
  assert.equal(old.url, '/info/x');
  assert.equal(old.headers.host, 'www.example.test', 'no host rewrite: preserveHost');

  const moved = await fetchOnce(port, '/moved/page?a=1', { headers: { host: 'www.example.test' } });
  assert.equal(moved.status, 301);
  assert.equal(moved.headers.location, 'https://www.example.test/new/page?a=1');
  assert.equal(moved.headers['x-why'], 'moved');

  const rest = await fetchOnce(port, '/info', { headers: { host: 'www.example.test', cookie: 'k=v' } });
  assert.equal((JSON.parse(rest.body) as Info).headers.cookie, 'k=v', 'a route without rewrite: untouched');
  assert.equal(rest.headers['content-type'], 'application/json');
});

test('rewrites are validated at load, the field named', () => {
  const bad = (rewrite: object) => () => parseConfig(config(1, 2, [{ name: 'r', action: { type: 'proxy', upstream: 'app' }, rewrite }]));
  const at = 'routes\\[0\\]\\.action\\.routes\\[0\\]\\.rewrite';
  assert.throws(bad({ requestHeaders: { set: { 'bad name': 'x' } } }), new RegExp(`${at}\\.requestHeaders\\.set\\.bad name.*header name`, 's'));
  assert.throws(bad({ requestHeaders: { add: { 'x-a': 'one\r\ntwo' } } }), new RegExp(`${at}\\.requestHeaders\\.add\\.x-a.*CR, LF or NUL`, 's'));
  assert.throws(bad({ requestHeaders: { set: { 'transfer-encoding': 'chunked' } } }), new RegExp(`${at}\\.requestHeaders\\.set\\.transfer-encoding.*proxy's own`, 's'));
  assert.throws(bad({ requestHeaders: { remove: ['host'] } }), new RegExp(`${at}\\.requestHeaders\\.remove\\[0\\].*rewrite\\.host`, 's'));
  assert.throws(bad({ path: { stripPrefix: 'api' } }), new RegExp(`${at}\\.path\\.stripPrefix.*starting with /`, 's'));
  assert.throws(bad({ path: { dropPrefix: '/api' } }), new RegExp(`${at}\\.path.*stripPrefix`, 's'));
  assert.throws(bad({ host: 'a host' }), new RegExp(`${at}\\.host.*host:port`, 's'));
  assert.throws(bad({ unknown: 1 }), new RegExp(`${at}\\.unknown.*unknown field`, 's'));
});
