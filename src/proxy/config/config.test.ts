import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProxyConfigError } from '../../errors.js';
import { parseConfig } from './config-loader.js';
import { parseTarget, redactConfig, timeoutsFor } from './config.js';
import { Router } from '../l4/router.js';

const minimal = { listeners: [{ port: 8443 }], routes: [{ name: 'a', action: { type: 'forward', targets: ['127.0.0.1:9000'] } }] };

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
  assert.equal(fieldOf(route({ type: 'forward', targets: ['127.0.0.1:1', 'nohost'] })), 'routes[0].action.targets[1]');
  assert.equal(fieldOf(route({ type: 'teleport' })), 'routes[0].action.type');
  assert.equal(fieldOf(route({ type: 'reject' }, { match: { sni: ['bad name'] } })), 'routes[0].match.sni[0]');
  assert.equal(fieldOf(route({ type: 'reject' }, { match: { clientCidrs: ['10.0.0.0/33'] } })), 'routes[0].match.clientCidrs[0]');
  assert.equal(fieldOf(route({ type: 'reject' }, { timeouts: { idleMs: -1 } })), 'routes[0].timeouts.idleMs');
  assert.equal(fieldOf({ ...minimal, routes: [minimal.routes[0], minimal.routes[0]] }), 'routes[1].name');
  assert.equal(fieldOf({ listeners: [{ port: 1 }, { port: 1 }], routes: minimal.routes }), 'listeners[1].port');
  assert.equal(fieldOf({ ...minimal, admin: { token: 'short' } }), 'admin.token');
  assert.equal(fieldOf({ listeners: [] , routes: minimal.routes }), 'listeners');
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
  const router = new Router(parseConfig({
    listeners: [{ port: 1 }, { port: 2 }],
    routes: [
      { name: 'office', match: { ports: [2], clientCidrs: ['10.0.0.0/8'] }, action: { type: 'forward', targets: ['h:1'] } },
      { name: 'db', match: { ports: [2] }, action: { type: 'reject' } },
      { name: 'exact', match: { sni: ['app.example.test'] }, action: { type: 'passthrough', targets: ['h:1'] } },
      { name: 'wild', match: { sni: ['*.example.test'] }, action: { type: 'passthrough', targets: ['h:1'] } },
      { name: 'rest', action: { type: 'forward', targets: ['h:1'] } },
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

test('balancing: round-robin rotates, least-connections picks the least loaded; the rest follow as fallbacks', () => {
  const router = new Router(parseConfig({
    listeners: [{ port: 1 }],
    routes: [
      { name: 'rr', match: { ports: [1] }, action: { type: 'forward', targets: ['a:1', 'b:1', 'c:1'] } },
      { name: 'lc', action: { type: 'forward', targets: ['a:1', 'b:1', 'c:1'], balance: 'least-connections' } },
    ],
  }));
  const rr = router.routes[0]!.balancer!;
  assert.deepEqual([rr.order(), rr.order(), rr.order(), rr.order()], [[0, 1, 2], [1, 2, 0], [2, 0, 1], [0, 1, 2]]);
  const lc = router.routes[1]!.balancer!;
  lc.acquire(0);
  lc.acquire(1);
  assert.deepEqual(lc.order(), [2, 0, 1]);
  lc.release(0);
  assert.ok([0, 2].includes(lc.order()[0]!), 'one of the least-loaded targets (ties go round in turn)');
});

test('HTTP routes: defaults, and errors naming the field', () => {
  const http = (routes: unknown, extra: object = {}) => ({ ...minimal, ...extra, routes: [{ name: 'web', action: { type: 'http', routes } }] });
  const config = parseConfig(http([{ name: 'app', action: { type: 'proxy', targets: ['127.0.0.1:8080'] } }]));
  assert.equal(config.http.keepAliveMs, 65_000, 'longer than common client pools');
  assert.equal(config.http.headersTimeoutMs, 20_000);
  assert.equal(config.tls.minVersion, 'TLSv1.2');
  const action = config.routes[0]!.action;
  assert.ok(action.type === 'http' && action.routes[0]!.action.type === 'proxy');
  assert.deepEqual(action.routes[0]!.action.targets, [{ address: '127.0.0.1:8080', weight: 1 }]);
  assert.equal(action.routes[0]!.action.retries, 1);

  assert.equal(fieldOf(http([{ name: 'app', action: { type: 'proxy', targets: ['nohost'] } }])), 'routes[0].action.routes[0].action.targets[0]');
  // One target syntax (issue 18): an HTTP upstream's port is checked as an L4 target's is (70000 was accepted).
  for (const bad of ['host:70000', 'host:0', { address: 'host:99999', weight: 2 }]) {
    assert.match(fieldOf(http([{ name: 'app', action: { type: 'proxy', targets: [bad] } }])) ?? '', /^routes\[0\]\.action\.routes\[0\]\.action\.targets\[0\]/, JSON.stringify(bad));
  }
  assert.equal(fieldOf(http([{ name: 'app', match: { pathPrefix: 'api' }, action: { type: 'respond', status: 200 } }])), 'routes[0].action.routes[0].match.pathPrefix');
  assert.equal(fieldOf(http([{ name: 'r', action: { type: 'redirect', status: 200 } }])), 'routes[0].action.routes[0].action.status');
  assert.equal(fieldOf(http([{ name: 'r', action: { type: 'respond', status: 200 } }], { http: { via: 'two words' } })), 'http.via');
  assert.equal(fieldOf(http([{ name: 'r', action: { type: 'respond', status: 200 } }], { http: { trustedProxies: ['10.0.0.0/99'] } })), 'http.trustedProxies[0]');
});

test('TLS termination needs a certificate, and at most one default', () => {
  const terminate = { name: 'tls', action: { type: 'terminate', routes: [{ name: 'app', action: { type: 'respond', status: 204 } }] } };
  assert.equal(fieldOf({ ...minimal, routes: [terminate] }), 'certificates');
  const certificate = { certFile: 'a.pem', keyFile: 'a.key', default: true };
  assert.equal(fieldOf({ ...minimal, routes: [terminate], certificates: [certificate, certificate] }), 'certificates');
  assert.equal(fieldOf({ ...minimal, routes: [terminate], certificates: [{ certFile: 'a.pem' }] }), 'certificates[0].keyFile');
  const reencrypt = { name: 're', action: { type: 'terminate-reencrypt', upstreamTls: { verify: 'no' }, routes: terminate.action.routes } };
  assert.equal(fieldOf({ ...minimal, routes: [reencrypt], certificates: [certificate] }), 'routes[0].action.upstreamTls.verify');
});
