import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyConfigError } from 'holdfast/internal/errors.js';
import { parseConfig } from './config-loader.js';
import { parseTarget, redactConfig, timeoutsFor } from './config.js';
import { Router } from '../l4/router.js';
import { Upstream, type UpstreamHooks } from '../upstream/upstream.js';
import type { ProxyConfig } from './config.js';

const minimal = { listeners: [{ port: 8443 }], upstreams: [{ name: 'u', targets: ['127.0.0.1:9000'] }], routes: [{ name: 'a', action: { type: 'forward', upstream: 'u' } }] };

const hooks: UpstreamHooks = { ejected() {}, replayed() {}, checked() {}, healthChanged() {} };
/** The config's upstreams, as a generation makes them (none has a health check here: nothing to stop). */
function routerOf(config: ProxyConfig): Router {
  return new Router(config, new Map(config.upstreams.map((u) => [u.name, new Upstream(u, { tls: undefined, connectMs: 5_000, hooks })])));
}

function fieldOf(raw: unknown): string {
  try {
    parseConfig(raw, 'test.yaml');
  } catch (err) {
    assert.ok(err instanceof ProxyConfigError);
    assert.equal(err.code, 'HF_ERR_PROXY_CONFIG');
    assert.doesNotMatch(err.message, /\n/, 'one line');
    return err.field;
  }
  throw new Error('expected a ProxyConfigError');
}

test('a minimal config gets every default', () => {
  const config = parseConfig(minimal);
  assert.equal(config.listeners[0]!.host, '0.0.0.0');
  assert.equal(config.limits.perIp, 1_000);
  assert.equal(config.shutdown.drainMs, 30_000);
  assert.deepEqual(timeoutsFor(config, config.routes[0]), { connectMs: 5_000, firstDataMs: 10_000, idleMs: 600_000, lifetimeMs: 0, halfCloseMs: 30_000 });
});

test('each error names the field by its path', () => {
  const route = (action: object, extra: object = {}) => ({ ...minimal, routes: [{ name: 'a', action, ...extra }] });
  assert.equal(fieldOf({ ...minimal, listeners: [{ port: 70_000 }] }), 'listeners[0].port');
  assert.equal(fieldOf({ ...minimal, listeners: [{ port: 1, prot: 2 }] }), 'listeners[0].prot');
  assert.equal(fieldOf({ ...minimal, upstreams: [{ name: 'u', targets: ['127.0.0.1:1', 'nohost'] }] }), 'upstreams[0].targets[1]');
  assert.equal(fieldOf(route({ type: 'forward', upstream: 'nowhere' })), 'routes[0].action.upstream');
  assert.equal(fieldOf({ ...minimal, upstreams: [minimal.upstreams[0], minimal.upstreams[0]] }), 'upstreams[1].name');
  assert.equal(fieldOf({ ...minimal, upstreams: [{ name: 'u', targets: ['h:1'], balance: 'least-connections' }] }), 'upstreams[0].balance');
  assert.equal(fieldOf(route({ type: 'teleport' })), 'routes[0].action.type');
  assert.equal(fieldOf(route({ type: 'reject' }, { match: { sni: ['bad name'] } })), 'routes[0].match.sni[0]');
  assert.equal(fieldOf(route({ type: 'reject' }, { match: { clientCidrs: ['10.0.0.0/33'] } })), 'routes[0].match.clientCidrs[0]');
  assert.equal(fieldOf(route({ type: 'reject' }, { timeouts: { idleMs: -1 } })), 'routes[0].timeouts.idleMs');
  assert.equal(fieldOf({ ...minimal, routes: [minimal.routes[0], minimal.routes[0]] }), 'routes[1].name');
  assert.equal(fieldOf({ ...minimal, listeners: [{ port: 1 }, { port: 1 }] }), 'listeners[1].port');
  assert.equal(fieldOf({ ...minimal, admin: { token: 'short' } }), 'admin.token');
  assert.equal(fieldOf({ ...minimal, listeners: [] }), 'listeners');
});

test('targets: host:port and [v6]:port', () => {
  assert.deepEqual(parseTarget('db.internal:5432'), { host: 'db.internal', port: 5432 });
  assert.deepEqual(parseTarget('[::1]:443'), { host: '::1', port: 443 });
  for (const bad of ['::1:443', 'host', 'host:0', 'host:70000', ' host:1']) assert.equal(parseTarget(bad), undefined, bad);
});

test('/config hides the admin token', () => {
  const config = parseConfig({ ...minimal, admin: { token: 'a-very-secret-token-value' } });
  assert.doesNotMatch(JSON.stringify(redactConfig(config)), /a-very-secret/);
});

test('routing: first match in order; SNI routes wait for the hello, others do not', () => {
  const router = routerOf(parseConfig({
    listeners: [{ port: 1 }, { port: 2 }],
    upstreams: [{ name: 'h', targets: ['h:1'] }],
    routes: [
      { name: 'office', match: { ports: [2], clientCidrs: ['10.0.0.0/8'] }, action: { type: 'forward', upstream: 'h' } },
      { name: 'db', match: { ports: [2] }, action: { type: 'reject' } },
      { name: 'exact', match: { sni: ['app.example.test'] }, action: { type: 'passthrough', upstream: 'h' } },
      { name: 'wild', match: { sni: ['*.example.test'] }, action: { type: 'passthrough', upstream: 'h' } },
      { name: 'rest', action: { type: 'forward', upstream: 'h' } },
    ],
  }));
  const name = (r: ReturnType<Router['select']>) => (typeof r === 'object' ? r.name : r);
  assert.equal(name(router.select(2, '::ffff:10.1.2.3')), 'office', 'an IPv4-mapped client matches an IPv4 CIDR');
  assert.equal(name(router.select(2, '192.168.0.1')), 'db');
  assert.equal(name(router.select(1, '10.0.0.1')), 'need-hello');
  assert.equal(name(router.select(1, '10.0.0.1', { serverName: 'app.example.test' })), 'exact');
  assert.equal(name(router.select(1, '10.0.0.1', { serverName: 'a.b.example.test' })), 'wild', 'a wildcard matches any depth');
  assert.equal(name(router.select(1, '10.0.0.1', { serverName: 'example.test' })), 'rest', 'but not the bare suffix');
  assert.equal(name(router.select(1, '10.0.0.1', { serverName: undefined })), 'rest');
});

test('routes of both layers share one upstream object per name', () => {
  const router = routerOf(parseConfig({
    listeners: [{ port: 1 }],
    upstreams: [{ name: 'db', targets: ['a:1', 'b:1'] }],
    routes: [{ name: 'one', match: { ports: [1] }, action: { type: 'forward', upstream: 'db' } }, { name: 'two', action: { type: 'forward', upstream: 'db' } }],
  }));
  assert.ok(router.routes[0]!.upstream !== undefined && router.routes[0]!.upstream === router.routes[1]!.upstream);
});

test('HTTP routes and upstreams: defaults, and errors naming the field', () => {
  const http = (routes: unknown, extra: object = {}) => ({ ...minimal, ...extra, routes: [{ name: 'web', action: { type: 'http', routes } }] });
  const config = parseConfig(http([{ name: 'app', action: { type: 'proxy', upstream: 'u' } }]));
  assert.equal(config.http.keepAliveMs, 65_000, 'longer than common client pools');
  assert.equal(config.http.headersTimeoutMs, 20_000);
  assert.equal(config.tls.minVersion, 'TLSv1.2');
  const action = config.routes[0]!.action;
  assert.ok(action.type === 'http' && action.routes[0]!.action.type === 'proxy');
  assert.equal(action.routes[0]!.action.upstream, 'u');
  const upstream = config.upstreams[0]!;
  assert.deepEqual(upstream.targets, [{ address: '127.0.0.1:9000', host: '127.0.0.1', port: 9000, weight: 1 }]);
  assert.equal(upstream.retries, 1);
  assert.equal(upstream.connections, 128);
  assert.deepEqual(upstream.timeouts, { responseMs: 60_000, bodyMs: 60_000 }, 'connectMs falls back to the global one');

  assert.equal(fieldOf(http([{ name: 'app', action: { type: 'proxy', upstream: 'missing' } }])), 'routes[0].action.routes[0].action.upstream');
  // One target syntax (issue 18): every upstream's port is checked the same way (70000 was accepted for HTTP).
  for (const bad of ['host:70000', 'host:0', { address: 'host:99999', weight: 2 }]) {
    assert.equal(fieldOf({ ...minimal, upstreams: [{ name: 'u', targets: [bad] }] }), 'upstreams[0].targets[0]', JSON.stringify(bad));
  }
  // A PROXY protocol header is a layer-4 thing: an HTTP route cannot use such an upstream.
  assert.equal(fieldOf(http([{ name: 'app', action: { type: 'proxy', upstream: 'u' } }], { upstreams: [{ name: 'u', targets: ['h:1'], proxyProtocol: 'v2' }] })), 'routes[0].action.routes[0].action.upstream');
  assert.equal(fieldOf({ ...minimal, upstreams: [{ name: 'u', targets: ['h:1'], tls: { verify: 'no' } }] }), 'upstreams[0].tls.verify');
  assert.equal(fieldOf(http([{ name: 'app', match: { pathPrefix: 'api' }, action: { type: 'respond', status: 200 } }])), 'routes[0].action.routes[0].match.pathPrefix');
  assert.equal(fieldOf(http([{ name: 'r', action: { type: 'redirect', status: 200 } }])), 'routes[0].action.routes[0].action.status');
  assert.equal(fieldOf(http([{ name: 'r', action: { type: 'respond', status: 200 } }], { http: { via: 'two words' } })), 'http.via');
  assert.equal(fieldOf(http([{ name: 'r', action: { type: 'respond', status: 200 } }], { http: { trustedProxies: ['10.0.0.0/99'] } })), 'http.trustedProxies[0]');
});

test('the keys upstreams: replaced are refused with a one-line hint to the new form', () => {
  const hintOf = (raw: unknown): string => {
    try {
      parseConfig(raw, 'old.yaml');
    } catch (err) {
      assert.ok(err instanceof ProxyConfigError);
      assert.doesNotMatch(err.message, /\n/, 'one line');
      return `${err.field}: ${err.message}`;
    }
    throw new Error('expected a ProxyConfigError');
  };
  const l4 = { listeners: [{ port: 1 }], routes: [{ name: 'a', action: { type: 'forward', targets: ['h:1'] } }] };
  assert.match(hintOf(l4), /routes\[0\]\.action\.targets: .*targets moved to a named upstream: add upstreams: .* and write upstream: NAME here \(docs\/guides\/proxy\.md#upstreams\)/);
  const http = { listeners: [{ port: 1 }], routes: [{ name: 'w', action: { type: 'http', routes: [{ name: 'h', action: { type: 'proxy', upstream: 'u', retries: 2 } }] } }] };
  assert.match(hintOf(http), /routes\[0\]\.action\.routes\[0\]\.action\.retries: .*retries moved to a named upstream/);
  const reencrypt = { listeners: [{ port: 1 }], routes: [{ name: 'r', action: { type: 'terminate-reencrypt', routes: [] } }] };
  assert.match(hintOf(reencrypt), /routes\[0\]\.action\.type: .*type: terminate, with a tls: section on the upstream/);
  const connect = { ...minimal, routes: [{ ...minimal.routes[0], timeouts: { connectMs: 100 } }] };
  assert.match(hintOf(connect), /routes\[0\]\.timeouts\.connectMs: .*upstreams\[\]\.timeouts\.connectMs/);
});

test('TLS termination needs a certificate, and at most one default', () => {
  const terminate = { name: 'tls', action: { type: 'terminate', routes: [{ name: 'app', action: { type: 'respond', status: 204 } }] } };
  assert.equal(fieldOf({ ...minimal, routes: [terminate] }), 'certificates');
  const certificate = { certFile: 'a.pem', keyFile: 'a.key', default: true };
  assert.equal(fieldOf({ ...minimal, routes: [terminate], certificates: [certificate, certificate] }), 'certificates');
  assert.equal(fieldOf({ ...minimal, routes: [terminate], certificates: [{ certFile: 'a.pem' }] }), 'certificates[0].keyFile');
});
