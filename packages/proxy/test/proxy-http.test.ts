import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import WebSocket from 'ws';
import { closedPort } from '../../../test/support/helpers.js';
import { fetchOnce, startUpstream, type Info, type Upstream } from '../../../test/support/http-upstream.js';
import { startProxy, type ProxyProcess } from '../../../test/support/proxy-harness.js';
import type { ProxyConfigInput } from '../src/proxy/config/config.js';
import { captureClientHello, testCa, type TestCa } from '../../../test/support/tls-fixtures.js';

/**
 * The HTTP reverse proxy and TLS termination, as users run them: the built CLI, a config file,
 * real certificates from a CA made for the run, real upstreams on loopback.
 */

type Hooks = { after(fn: () => Promise<void> | void): void };
const cleanups: (() => Promise<void> | void)[] = [];
const suite: Hooks = { after: (fn) => { cleanups.push(fn); } };

const KEEP_ALIVE_MS = 1_000;
const HANDSHAKE_TIMEOUT_MS = 500;
const SITE_NAMES = ['a.example.test', 'secure.example.test', 'untrusted.example.test', 'insecure.example.test'];
const HEADERS_TIMEOUT_MS = 1_000;

describe('HTTP proxy and TLS termination', () => {
  let proxy: ProxyProcess;
  let ca: TestCa;
  let dir: string;
  let u1: Upstream;
  let u2: Upstream;
  let u3: Upstream;
  let secure: Upstream;
  let untrusted: Upstream;
  const port: Record<string, number> = {};
  let config: ProxyConfigInput;

  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  before(async () => {
    ca = testCa();
    dir = mkdtempSync(join(tmpdir(), 'holdfast-http-'));
    suite.after(() => rmSync(dir, { recursive: true, force: true }));
    const write = (name: string, pair: { cert: Buffer; key: Buffer }) => {
      writeFileSync(join(dir, `${name}.pem`), pair.cert);
      writeFileSync(join(dir, `${name}.key`), pair.key);
    };
    write('site', ca.issue(SITE_NAMES));
    write('wild', ca.issue(['*.wild.test']));
    write('default', ca.issue(['default.test']));
    writeFileSync(join(dir, 'ca.pem'), ca.cert);
    u1 = await startUpstream(suite, 'u1');
    u2 = await startUpstream(suite, 'u2');
    u3 = await startUpstream(suite, 'u3');
    secure = await startUpstream(suite, 'secure', ca.issue(['upstream.test', '127.0.0.1']));
    untrusted = await startUpstream(suite, 'untrusted', testCa('another CA').issue(['upstream.test', '127.0.0.1']));
    u1.routes.set('/big', (_req, res) => res.end(Buffer.alloc(200_000, 'x')));
    const refused = await closedPort();
    for (const name of ['plain', 'tls', 'tls2']) port[name] = await closedPort();
    const at = (u: Upstream | number) => `127.0.0.1:${typeof u === 'number' ? u : u.port}`;
    const catchAll = { name: 'all', action: { type: 'proxy' as const, upstream: 'all' } };
    config = {
      upstreams: [
        { name: 'all', targets: [at(u1)] },
        { name: 'retry', targets: [at(refused), at(u2)], outlier: { consecutiveFailures: 1000 } },
        { name: 'weighted', targets: [{ address: at(u1), weight: 3 }, at(u2)] },
        { name: 'checked', targets: [at(u1), at(u3)], healthCheck: { path: '/health', intervalMs: 100, healthyThreshold: 1, unhealthyThreshold: 1 } },
        { name: 'app', targets: [at(u2)] },
        { name: 'secure', targets: [at(secure)], tls: { caFile: join(dir, 'ca.pem'), servername: 'upstream.test' } },
        { name: 'untrusted', targets: [at(untrusted)], tls: { caFile: join(dir, 'ca.pem') } },
        { name: 'insecure', targets: [at(untrusted)], tls: { verify: false } },
      ],
      listeners: Object.entries(port).map(([name, p]) => ({ name, host: '127.0.0.1', port: p })),
      certificates: [
        { certFile: join(dir, 'site.pem'), keyFile: join(dir, 'site.key') },
        { certFile: join(dir, 'wild.pem'), keyFile: join(dir, 'wild.key') },
        { certFile: join(dir, 'default.pem'), keyFile: join(dir, 'default.key'), default: true },
      ],
      tls: { handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS },
      http: { keepAliveMs: KEEP_ALIVE_MS, headersTimeoutMs: HEADERS_TIMEOUT_MS, maxRequestBodyBytes: 1000, maxResponseBodyBytes: 100_000 },
      routes: [
        {
          name: 'plain', match: { ports: [port.plain!] }, action: {
            type: 'http', routes: [
              { name: 'old', match: { hosts: ['old.example.test'] }, action: { type: 'redirect' } },
              { name: 'teapot', match: { pathPrefix: '/teapot' }, action: { type: 'respond', status: 418, body: 'short and stout' } },
              { name: 'retry', match: { pathPrefix: '/retry' }, action: { type: 'proxy', upstream: 'retry' } },
              { name: 'weighted', match: { pathPrefix: '/weighted' }, action: { type: 'proxy', upstream: 'weighted' } },
              { name: 'checked', match: { pathPrefix: '/checked' }, action: { type: 'proxy', upstream: 'checked' } },
              { name: 'app', match: { hosts: ['app.example.test'] }, action: { type: 'proxy', preserveHost: false, upstream: 'app' } },
              catchAll,
            ],
          },
        },
        { name: 'site', match: { ports: [port.tls!], sni: ['a.example.test', '*.wild.test'] }, action: { type: 'terminate', routes: [catchAll] } },
        {
          name: 'reencrypt', match: { ports: [port.tls!], sni: ['secure.example.test'] },
          action: { type: 'terminate', routes: [{ name: 'secure', action: { type: 'proxy', upstream: 'secure' } }] },
        },
        {
          name: 'untrusted', match: { ports: [port.tls!], sni: ['untrusted.example.test'] },
          action: { type: 'terminate', routes: [{ name: 'untrusted', action: { type: 'proxy', upstream: 'untrusted' } }] },
        },
        {
          name: 'insecure', match: { ports: [port.tls!], sni: ['insecure.example.test'] },
          action: { type: 'terminate', routes: [{ name: 'insecure', action: { type: 'proxy', upstream: 'insecure' } }] },
        },
        { name: 'any-name', match: { ports: [port.tls2!] }, action: { type: 'terminate', routes: [catchAll] } },
      ],
    };
    proxy = await startProxy(suite, config);
  });

  const tlsTo = (servername: string) => ({ ca: ca.cert, servername });

  async function peerCertificate(listener: string, servername: string): Promise<PeerCertificate> {
    const socket = tlsConnect({ host: '127.0.0.1', port: port[listener]!, servername, ca: ca.cert, checkServerIdentity: () => undefined, ALPNProtocols: ['http/1.1'] });
    socket.on('error', () => {});
    await once(socket, 'secureConnect');
    const certificate = socket.getPeerCertificate();
    assert.equal(socket.alpnProtocol, 'http/1.1');
    socket.destroy();
    return certificate;
  }

  test('the certificate is chosen by SNI: exact, wildcard, and the default for any other name', async () => {
    assert.equal((await peerCertificate('tls', 'a.example.test')).subject.CN, 'a.example.test');
    assert.equal((await peerCertificate('tls', 'deep.sub.wild.test')).subject.CN, '*.wild.test');
    assert.equal((await peerCertificate('tls2', 'nothing.test')).subject.CN, 'default.test');
  });

  test('TLS below 1.2 is refused, and the failed handshake is counted by reason', async () => {
    const socket = tlsConnect({ host: '127.0.0.1', port: port.tls2!, servername: 'x.test', ca: ca.cert, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' });
    const [err] = (await once(socket, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
    assert.match(String(err.code), /ERR_SSL/);
    await proxy.log.waitFor((l) => l.msg === 'TLS handshake failed' && l.route === 'any-name');
    const metrics = (await proxy.admin('/metrics')).text;
    assert.match(metrics, /holdfast_proxy_http_tls_handshakes_total\{route="any-name",outcome="(unsupported_protocol|no_protocols_available|[a-z_]+)"\} 1/);
  });

  test('a client that never finishes its handshake is cut off at tls.handshakeTimeoutMs, counted as a timeout', async () => {
    const socket = netConnect({ host: '127.0.0.1', port: port.tls2! });
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.resume();
    await new Promise((resolve) => socket.once('close', resolve)); // sends nothing: the proxy must close it
    const metrics = (await proxy.admin('/metrics')).text;
    assert.match(metrics, /holdfast_proxy_http_tls_handshakes_total\{route="any-name",outcome="timeout"\} 1/);
  });

  test('regression: a client that sends FIN mid-handshake is closed at once as closed, not held to the handshake timeout', async () => {
    const before = (await proxy.admin('/metrics')).text;
    const closedBefore = Number(/tls_handshakes_total\{route="any-name",outcome="closed"\} (\d+)/.exec(before)?.[1] ?? 0);
    const socket = netConnect({ host: '127.0.0.1', port: port.tls2! });
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.resume();
    socket.end(await captureClientHello({ servername: 'x.test' })); // the hello, then FIN
    await new Promise((resolve) => socket.once('close', resolve));
    const after = (await proxy.admin('/metrics')).text;
    assert.equal(Number(/tls_handshakes_total\{route="any-name",outcome="closed"\} (\d+)/.exec(after)?.[1] ?? 0), closedBefore + 1);
  });

  test('terminate: HTTPS in, plain HTTP to the upstream, with X-Forwarded-Proto https', async () => {
    const answer = await fetchOnce(port.tls!, '/info', { tls: tlsTo('a.example.test') });
    assert.equal(answer.status, 200);
    const info = JSON.parse(answer.body) as Info;
    assert.equal(info.upstream, 'u1');
    assert.equal(info.tls, false);
    assert.equal(info.headers['x-forwarded-proto'], 'https');
  });

  test('terminate to an upstream with tls: HTTPS to it, verified against the configured CA, with the configured SNI', async () => {
    const answer = await fetchOnce(port.tls!, '/info', { tls: tlsTo('secure.example.test') });
    assert.equal(answer.status, 200);
    const info = JSON.parse(answer.body) as Info;
    assert.deepEqual([info.upstream, info.tls, info.servername], ['secure', true, 'upstream.test']);
  });

  test('an upstream certificate from another CA fails verification: 502 with HF_ERR_TLS', async () => {
    const answer = await fetchOnce(port.tls!, '/info', { tls: tlsTo('untrusted.example.test') });
    assert.equal(answer.status, 502);
    assert.equal(answer.headers['holdfast-error'], 'HF_ERR_TLS');
    assert.equal(untrusted.hits.size, 0, 'no request reached the unverified upstream');
  });

  test('an upstream with tls.verify: false reaches any certificate, and says so in the log at load', async () => {
    const warning = proxy.log.lines.find((l) => l.msg === 'certificate verification is OFF for this upstream (tls.verify: false)');
    assert.equal(warning?.upstream, 'insecure');
    assert.equal(warning?.level, 40);
    const answer = await fetchOnce(port.tls!, '/info', { tls: tlsTo('insecure.example.test') });
    assert.equal((JSON.parse(answer.body) as Info).upstream, 'untrusted');
  });

  test('a renewed certificate is served without a restart', async () => {
    const before = await peerCertificate('tls', 'a.example.test');
    const mark = proxy.log.mark;
    const renewed = ca.issue(SITE_NAMES);
    writeFileSync(join(dir, 'site.key'), renewed.key);
    writeFileSync(join(dir, 'site.pem'), renewed.cert);
    await proxy.log.waitFor((l) => l.msg === 'certificates reloaded', mark);
    const after = await peerCertificate('tls', 'a.example.test');
    assert.notEqual(after.serialNumber, before.serialNumber);
    assert.equal(after.subject.CN, 'a.example.test');
  });

  async function echoOverWebSocket(url: string, options: WebSocket.ClientOptions, beforeSend?: () => Promise<void>): Promise<string> {
    const ws = new WebSocket(url, options);
    ws.on('error', () => {});
    await once(ws, 'open');
    await beforeSend?.();
    const reply = once(ws, 'message');
    ws.send('hello');
    const [data] = (await reply) as [Buffer];
    ws.close();
    await once(ws, 'close');
    return String(data);
  }

  test('WebSocket through terminate, to ws:// and to an upstream with tls: (wss://)', async () => {
    assert.equal(await echoOverWebSocket(`wss://127.0.0.1:${port.tls!}/ws`, tlsTo('a.example.test')), 'echo:hello');
    assert.equal(await echoOverWebSocket(`wss://127.0.0.1:${port.tls!}/ws`, tlsTo('secure.example.test')), 'echo:hello');
    assert.equal(await echoOverWebSocket(`ws://127.0.0.1:${port.plain!}/ws`, {}), 'echo:hello');
  });

  test("a WebSocket outlives the HTTP server's keep-alive and header timeouts", async () => {
    const reply = await echoOverWebSocket(`wss://127.0.0.1:${port.tls!}/ws`, tlsTo('a.example.test'), async () => {
      // An idle keep-alive connection is closed after keepAliveMs; a slow header after headersTimeoutMs.
      const idle = tlsConnect({ host: '127.0.0.1', port: port.tls!, servername: 'a.example.test', ca: ca.cert });
      idle.on('error', () => {});
      await once(idle, 'secureConnect');
      idle.write('GET /info HTTP/1.1\r\nHost: a\r\n\r\n');
      const slow = netConnect({ host: '127.0.0.1', port: port.plain! });
      slow.on('error', () => {});
      slow.write('GET /info HTTP/1.1\r\nHost: a\r\n');
      // Read what they are sent (a response, a 408), or their end would never be seen.
      idle.resume();
      slow.resume();
      await Promise.all([once(idle, 'close'), once(slow, 'close')]);
    });
    assert.equal(reply, 'echo:hello');
  });

  test('hop-by-hop headers are removed both ways; X-Forwarded-* and Forwarded from an untrusted client are replaced; Via is added', async () => {
    const answer = await fetchOnce(port.plain!, '/info', {
      headers: { host: 'www.example.test:8080', connection: 'keep-alive, x-hop', 'x-hop': 'secret', te: 'trailers', 'x-forwarded-for': '6.6.6.6', forwarded: 'for=6.6.6.6' },
    });
    const info = JSON.parse(answer.body) as Info;
    assert.equal(info.headers['x-hop'], undefined);
    assert.equal(info.headers.te, undefined);
    assert.equal(info.headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(info.headers['x-forwarded-host'], 'www.example.test:8080');
    assert.equal(info.headers.forwarded, 'for=127.0.0.1;host="www.example.test:8080";proto=http');
    assert.equal(info.headers.via, '1.1 holdfast');
    assert.equal(info.headers.host, 'www.example.test:8080', 'preserveHost is the default');
    assert.equal(answer.headers['x-upstream-hop'], undefined, 'a field the upstream named in Connection does not pass');
    assert.equal(answer.headers.via, '1.1 holdfast');
    assert.equal(answer.headers['keep-alive'], `timeout=${KEEP_ALIVE_MS / 1000}`, 'the idle timeout is advertised');
  });

  test('routes by host and path: redirect to HTTPS, a fixed response, a host-specific upstream with its own Host', async () => {
    const redirect = await fetchOnce(port.plain!, '/a?b=1', { headers: { host: 'old.example.test' } });
    assert.deepEqual([redirect.status, redirect.headers.location], [308, 'https://old.example.test/a?b=1']);
    const dollar = await fetchOnce(port.plain!, "/$&/$'", { headers: { host: 'old.example.test' } });
    assert.equal(dollar.headers.location, "https://old.example.test/$&/$'", 'the path is taken as it is');
    const teapot = await fetchOnce(port.plain!, '/teapot');
    assert.deepEqual([teapot.status, teapot.body], [418, 'short and stout']);
    const app = JSON.parse((await fetchOnce(port.plain!, '/info', { headers: { host: 'app.example.test' } })).body) as Info;
    assert.deepEqual([app.upstream, app.headers.host], ['u2', `127.0.0.1:${u2.port}`]);
  });

  test('an absolute-form target for a host no route names is refused: the proxy is not a forward proxy', async () => {
    const refused = await fetchOnce(port.plain!, 'http://internal.example.test/secret');
    assert.deepEqual([refused.status, refused.headers['holdfast-error']], [400, 'HF_ERR_PROXY_BAD_REQUEST']);
    assert.equal(u1.hits.get('/secret'), undefined);
    const served = await fetchOnce(port.plain!, 'http://app.example.test/info');
    assert.equal((JSON.parse(served.body) as Info).upstream, 'u2');
  });

  test('CONNECT is refused: the proxy is not a tunnel', async () => {
    const reply = await new Promise<string>((resolve) => {
      const socket = netConnect({ host: '127.0.0.1', port: port.plain! });
      socket.on('error', () => {});
      let data = '';
      socket.on('data', (chunk: Buffer) => { data += chunk.toString('latin1'); });
      socket.once('close', () => resolve(data));
      socket.write('CONNECT internal.example.test:22 HTTP/1.1\r\nHost: internal.example.test:22\r\n\r\n');
    });
    assert.match(reply, /^HTTP\/1\.1 405 /);
    assert.match(reply, /holdfast-error: HF_ERR_PROXY_BAD_REQUEST/);
  });

  test('an idempotent request whose target refuses goes to another target', async () => {
    const answers = await Promise.all(Array.from({ length: 6 }, () => fetchOnce(port.plain!, '/retry/info')));
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 200, 200, 200, 200]);
    assert.match((await proxy.admin('/metrics')).text, /holdfast_proxy_http_retries_total\{route="retry"\} [1-9]/);
  });

  test('weights: 3 to 1 in smooth round-robin order', async () => {
    const order: string[] = [];
    for (let i = 0; i < 8; i++) order.push((JSON.parse((await fetchOnce(port.plain!, '/weighted/info')).body) as Info).upstream);
    assert.deepEqual(order.filter((u) => u === 'u1').length, 6);
    assert.deepEqual(order.filter((u) => u === 'u2').length, 2);
  });

  test('a target failing its health check leaves rotation, and returns when it passes', async () => {
    const mark = proxy.log.mark;
    u3.health = 503;
    await proxy.log.waitFor((l) => l.msg === 'target failed its health check: out of rotation' && l.upstream === 'checked' && l.target === `127.0.0.1:${u3.port}`, mark);
    for (let i = 0; i < 4; i++) assert.equal((JSON.parse((await fetchOnce(port.plain!, '/checked/info')).body) as Info).upstream, 'u1');
    u3.health = 200;
    await proxy.log.waitFor((l) => l.msg === 'target healthy again: back in rotation' && l.upstream === 'checked' && l.target === `127.0.0.1:${u3.port}`, mark);
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((JSON.parse((await fetchOnce(port.plain!, '/checked/info')).body) as Info).upstream);
    assert.deepEqual([...seen].sort(), ['u1', 'u3']);
  });

  test('size limits: a request body over the limit is 413, a response over it is 502', async () => {
    const declared = await fetchOnce(port.plain!, '/info', { method: 'POST', body: Buffer.alloc(1001) });
    assert.deepEqual([declared.status, declared.headers['holdfast-error']], [413, 'HF_ERR_BODY_TOO_LARGE']);
    const chunked = await fetchOnce(port.plain!, '/info', { method: 'POST', headers: { 'transfer-encoding': 'chunked' }, body: Buffer.alloc(5000) });
    assert.equal(chunked.status, 413);
    const small = await fetchOnce(port.plain!, '/info', { method: 'POST', body: Buffer.alloc(1000) });
    assert.equal((JSON.parse(small.body) as Info).bodyBytes, 1000);
    const big = await fetchOnce(port.plain!, '/big');
    assert.deepEqual([big.status, big.headers['holdfast-error']], [502, 'HF_ERR_BODY_TOO_LARGE']);
  });

  test('metrics count requests by route, status and upstream', async () => {
    const metrics = (await proxy.admin('/metrics')).text;
    assert.match(metrics, new RegExp(`holdfast_proxy_http_requests_total\\{route="teapot",status="418",target="none"\\} 1`));
    assert.match(metrics, new RegExp(`holdfast_proxy_http_requests_total\\{route="all",status="200",target="127.0.0.1:${u1.port}"\\} \\d+`));
    assert.match(metrics, /holdfast_proxy_http_upstream_latency_seconds_count\{route="all",target="[^"]+"\} \d+/);
    assert.match(metrics, /holdfast_proxy_http_health_checks_total\{upstream="checked",target="[^"]+",result="fail"\} \d+/);
    assert.match(metrics, /holdfast_proxy_http_tls_handshakes_total\{route="site",outcome="ok"\} \d+/);
  });
  test('a reload: new requests take the new routes; idle keep-alive connections of the old ones are closed', async () => {
    const idle = netConnect({ host: '127.0.0.1', port: port.plain! });
    idle.on('error', () => {});
    idle.write('GET /teapot HTTP/1.1\r\nHost: a\r\n\r\n');
    const [first] = (await once(idle, 'data')) as [Buffer];
    assert.match(String(first), /short and stout/);
    const closedByProxy = new Promise((resolve) => idle.once('close', resolve));
    const mark = proxy.log.mark;
    const plain = config.routes[0]!;
    assert.ok(plain.action.type === 'http');
    const routes = plain.action.routes.map((route) => (route.name === 'teapot' ? { ...route, action: { type: 'respond' as const, status: 418, body: 'reloaded' } } : route));
    proxy.rewrite({ ...config, routes: [{ ...plain, action: { ...plain.action, routes } }, ...config.routes.slice(1)] });
    await proxy.log.waitFor((l) => l.msg === 'config reloaded', mark);
    await closedByProxy; // well before http.keepAliveMs would have: the old site retired it
    assert.equal((await fetchOnce(port.plain!, '/teapot')).body, 'reloaded');
  });

  test('SIGTERM: idle keep-alive connections close first, a request in flight finishes with Connection: close, exit 0', async () => {
    let arrived!: () => void;
    const inFlight = new Promise<void>((resolve) => { arrived = resolve; });
    let release!: () => void;
    u1.routes.set('/slow-finish', (_req, res) => {
      arrived();
      release = () => res.end('finished');
    });
    const idle = netConnect({ host: '127.0.0.1', port: port.plain! });
    idle.on('error', () => {});
    idle.write('GET /teapot HTTP/1.1\r\nHost: a\r\n\r\n');
    await once(idle, 'data');
    const idleClosed = new Promise((resolve) => idle.once('close', resolve));
    const busy = fetchOnce(port.plain!, '/slow-finish', { headers: { connection: 'keep-alive' } });
    await inFlight;
    const exited = proxy.stop('SIGTERM');
    await idleClosed; // closed at once, not after shutdown.drainMs
    release();
    const answer = await busy;
    assert.deepEqual([answer.status, answer.body, answer.headers.connection], [200, 'finished', 'close']);
    assert.equal(await exited, 0);
  });
});

