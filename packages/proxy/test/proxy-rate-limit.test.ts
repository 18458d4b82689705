/**
 * Issue 22, item 3: per-client request rate limits on HTTP routes. A token bucket per client
 * address, header or cookie value; 429 with Retry-After and the RateLimit fields; nothing
 * sent upstream past the limit; the limit held across two proxies sharing Redis. Real
 * sockets; the local buckets refill on the injected clock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../src/proxy/config/config-loader.js';
import type { ProxyConfigInput } from '../src/proxy/config/config.js';
import { ProxyServer } from '../src/proxy/proxy-server.js';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { fetchOnce, startUpstream } from '../../../test/support/http-upstream.js';
import { freePort } from '../../../test/support/pebble.js';
import { redisOrSkip, uniquePrefix } from '../../../test/support/redis.js';

function config(port: number, upstream: number, rateLimit: object): ProxyConfigInput {
  return {
    listeners: [{ host: '127.0.0.1', port }],
    upstreams: [{ name: 'app', targets: [`127.0.0.1:${upstream}`] }],
    routes: [{
      name: 'web', action: {
        type: 'http', routes: [
          { name: 'limited', match: { pathPrefix: '/info' }, action: { type: 'proxy', upstream: 'app' }, rateLimit },
          { name: 'free', action: { type: 'respond', status: 200, body: 'free' } },
        ],
      },
    }],
  } as ProxyConfigInput;
}

test('a route\'s rate limit: the burst passes, the next gets 429 with Retry-After and RateLimit fields and never goes upstream; the bucket refills on the clock', async (t) => {
  const app = await startUpstream(t, 'app');
  const port = await freePort();
  const clock = new FakeClock();
  const proxy = await ProxyServer.start(parseConfig(config(port, app.port, { requestsPerSecond: 1, burst: 2 })), { clock });
  t.after(() => proxy.shutdown(0));
  const get = (path = '/info', headers: Record<string, string> = {}) => fetchOnce(port, path, { headers: { host: 'a.test', ...headers } });

  assert.deepEqual([(await get()).status, (await get()).status], [200, 200]);
  const limited = await get();
  assert.equal(limited.status, 429);
  assert.equal(limited.headers['retry-after'], '1');
  assert.equal(limited.headers['ratelimit-policy'], '"limited";q=2;w=2');
  assert.equal(limited.headers.ratelimit, '"limited";r=0;t=1');
  assert.equal(limited.headers['holdfast-error'], 'HF_ERR_RATE_LIMITED');
  assert.equal(app.hits.get('/info'), 2, 'the refused request never went upstream');
  assert.equal((await get('/other')).status, 200, 'another route has its own (no) limit');

  clock.advance(1_000); // one token back
  assert.equal((await get()).status, 200);
  assert.equal((await get()).status, 429);
  const metric = await proxy.metrics.registry.getSingleMetricAsString('holdfast_proxy_http_rate_limited_total');
  assert.match(metric, /route="limited"\} 2/);
});

test('a rate limit keyed by a header gives each value its own bucket; a client without it is keyed by its address', async (t) => {
  const app = await startUpstream(t, 'app');
  const port = await freePort();
  const proxy = await ProxyServer.start(parseConfig(config(port, app.port, { requestsPerSecond: 1, burst: 1, key: { header: 'X-Api-Key' } })), { clock: new FakeClock() });
  t.after(() => proxy.shutdown(0));
  const get = (headers: Record<string, string>) => fetchOnce(port, '/info', { headers: { host: 'a.test', ...headers } }).then((a) => a.status);
  assert.deepEqual([await get({ 'x-api-key': 'one' }), await get({ 'x-api-key': 'one' })], [200, 429]);
  assert.deepEqual([await get({ 'x-api-key': 'two' }), await get({ 'x-api-key': 'two' })], [200, 429]);
  assert.deepEqual([await get({}), await get({})], [200, 429]);
});

test('a rate limit keyed by a cookie gives each session its own bucket', async (t) => {
  const app = await startUpstream(t, 'app');
  const port = await freePort();
  const proxy = await ProxyServer.start(parseConfig(config(port, app.port, { requestsPerSecond: 1, burst: 1, key: { cookie: 'sid' } })), { clock: new FakeClock() });
  t.after(() => proxy.shutdown(0));
  const get = (cookie: string) => fetchOnce(port, '/info', { headers: { host: 'a.test', cookie } }).then((a) => a.status);
  assert.deepEqual([await get('theme=dark; sid=alpha'), await get('sid=alpha')], [200, 429]);
  assert.deepEqual([await get('sid=beta; theme=dark'), await get('sid=beta')], [200, 429]);
});

test('a rate limit shared through Redis holds across two proxies', async (t) => {
  const redisUrl = await redisOrSkip(t);
  if (redisUrl === undefined) return;
  const app = await startUpstream(t, 'app');
  const limit = { requestsPerSecond: 0.01, burst: 3, redis: { url: redisUrl, keyPrefix: `${uniquePrefix('proxy-rate')}:` } };
  const ports = [await freePort(), await freePort()];
  for (const port of ports) {
    const proxy = await ProxyServer.start(parseConfig(config(port, app.port, limit)));
    t.after(() => proxy.shutdown(0));
  }
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await fetchOnce(ports[i % 2]!, '/info', { headers: { host: 'a.test' } })).status);
  assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429], 'three tokens between the two proxies, not three each');
  assert.equal(app.hits.get('/info'), 3);
});

test('rate limits are validated at load, the field named', () => {
  const at = 'routes\\[0\\]\\.action\\.routes\\[0\\]\\.rateLimit';
  const bad = (rateLimit: object) => () => parseConfig(config(1, 2, rateLimit));
  assert.throws(bad({ requestsPerSecond: 0 }), new RegExp(`${at}\\.requestsPerSecond.*> 0`, 's'));
  assert.throws(bad({ requestsPerSecond: 1, burst: 0.5 }), new RegExp(`${at}\\.burst.*whole number`, 's'));
  assert.throws(bad({ requestsPerSecond: 1, key: 'ip' }), new RegExp(`${at}\\.key.*key: client`, 's'));
  assert.throws(bad({ requestsPerSecond: 1, redis: { url: 'localhost:6379' } }), new RegExp(`${at}\\.redis\\.url.*redis://`, 's'));
});
