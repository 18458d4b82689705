import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { parseConfig } from '../src/proxy/config/config-loader.js';
import type { ProxyConfigInput } from '../src/proxy/config/config.js';
import { ProxyServer } from '../src/proxy/proxy-server.js';
import { ProxyRuntime } from '../src/proxy/runtime.js';
import { ProxyConfigError } from 'holdfast/internal/errors.js';
import { pino } from 'pino';
import { request } from 'undici';
import { closedPort } from '../../../test/support/helpers.js';
import { selfSignedCertificate } from '../../../test/support/tls-fixtures.js';
import { FakeClock } from '../../../test/support/fake-clock.js';

/**
 * The proxy under attack (issue 19): each vector on real sockets against an in-process proxy.
 * What the proxy refuses and why: docs/guides/proxy.md#what-the-proxy-refuses-and-why.
 */

type Hooks = { after(fn: () => unknown): void };

/** A proxy from `config` (its listener ports chosen here), stopped after the test. */
async function proxyFor(t: Hooks, config: (port: number) => ProxyConfigInput): Promise<{ proxy: ProxyServer; port: number }> {
  const port = await closedPort();
  const proxy = await ProxyServer.start(parseConfig(config(port)));
  t.after(() => proxy.shutdown(0));
  return { proxy, port };
}

/** The self-signed localhost certificate as files, for a terminating route. */
function certificateFiles(t: Hooks): { certFile: string; keyFile: string; cert: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-attack-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { cert, key } = selfSignedCertificate();
  writeFileSync(join(dir, 'cert.pem'), cert);
  writeFileSync(join(dir, 'key.pem'), key);
  return { certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem'), cert };
}

/** Raw bytes to `port`; resolves with everything the proxy sent back before it closed or went quiet after `until` matched. */
export async function rawExchange(port: number, bytes: string | Buffer, until: RegExp = /\r\n\r\n/): Promise<string> {
  const socket: Socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.write(bytes);
  let text = '';
  for await (const chunk of socket) {
    text += String(chunk);
    if (until.test(text)) break;
  }
  socket.destroy();
  return text;
}

test('TLS renegotiation started by the client is refused on a terminating route (issue 19)', async (t) => {
  const files = certificateFiles(t);
  const { port } = await proxyFor(t, (listen) => ({
    listeners: [{ host: '127.0.0.1', port: listen }],
    certificates: [{ certFile: files.certFile, keyFile: files.keyFile }],
    routes: [{ name: 'tls', action: { type: 'terminate', routes: [{ name: 'ok', action: { type: 'respond', status: 204 } }] } }],
  }));
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: files.cert, maxVersion: 'TLSv1.2' });
  t.after(() => socket.destroy());
  await once(socket, 'secureConnect');
  const outcome = new Promise<string>((resolve) => {
    socket.once('error', (err) => resolve(err.message));
    socket.renegotiate({ rejectUnauthorized: false }, (err) => resolve(err === null ? 'renegotiated' : err.message));
  });
  socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'); // the client reads the proxy's answer to its new hello
  assert.match(await outcome, /no renegotiation/);
});

test('pipelining: 600 pipelined requests are one in flight upstream at a time, in order, and none is sent after the client leaves (issue 19)', async (t) => {
  let received = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const hung: ((res: ServerResponse) => void)[] = [];
  const upstream = createServer((req, res) => {
    received++;
    maxInFlight = Math.max(maxInFlight, ++inFlight);
    res.once('close', () => inFlight--);
    if (req.url!.startsWith('/fast')) return res.end(req.url);
    for (const notify of hung.splice(0)) notify(res); // /hang: never answered
  });
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  t.after(() => { upstream.closeAllConnections(); upstream.close(); });
  const target = `127.0.0.1:${(upstream.address() as AddressInfo).port}`;
  const { port } = await proxyFor(t, (listen) => ({
    listeners: [{ host: '127.0.0.1', port: listen }],
    upstreams: [{ name: 'app', targets: [target] }],
    routes: [{ name: 'web', action: { type: 'http', routes: [{ name: 'app', action: { type: 'proxy', upstream: 'app' } }] } }],
  }));

  const client = connect(port, '127.0.0.1');
  client.on('error', () => {});
  const requests = Array.from({ length: 600 }, (_, i) => `GET /${i < 5 ? 'fast' : 'hang'}/${i} HTTP/1.1\r\nHost: app\r\n\r\n`).join('');
  const hangArrived = new Promise<ServerResponse>((resolve) => hung.push(resolve));
  let answers = '';
  client.on('data', (chunk: Buffer) => { answers += String(chunk); });
  client.write(requests);
  const hanging = await hangArrived; // the five fast ones are answered, the first hanging one is upstream
  assert.equal(received, 6, 'one request at a time: the sixth went up only after the fifth was answered');
  assert.equal(maxInFlight, 1);
  assert.deepEqual([...answers.matchAll(/\/fast\/(\d)/g)].map((m) => m[1]), ['0', '1', '2', '3', '4'], 'answered in order');

  const aborted = once(hanging, 'close');
  client.destroy(); // the client leaves with 594 requests still queued behind the hanging one
  await aborted; // the one in flight is aborted upstream
  // A request on a new connection goes through after the abort: anything still queued would have gone first.
  const after = await rawExchange(port, 'GET /fast/after HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n', /\/fast\/after/);
  assert.match(after, /^HTTP\/1\.1 200/);
  assert.equal(received, 7, 'nothing queued behind the aborted request was sent after the client left');
});

/** An upstream that answers every request with its method and path, counting them. */
async function echoUpstream(t: Hooks): Promise<{ target: string; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => res.end(`${req.method} ${req.url}`));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => { server.closeAllConnections(); server.close(); });
  return { target: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

/** A site with a deny route for /admin and example.com, a redirect, and the rest to the echo upstream. */
async function guardedSite(t: Hooks, extra: object = {}, upstream: { connections?: number } = {}) {
  const app = await echoUpstream(t);
  const { port, proxy } = await proxyFor(t, (listen) => ({
    listeners: [{ host: '127.0.0.1', port: listen }],
    upstreams: [{ name: 'app', targets: [app.target], ...upstream }],
    routes: [{
      name: 'web', action: {
        type: 'http', routes: [
          { name: 'deny-host', match: { hosts: ['example.com'] }, action: { type: 'respond', status: 403, body: 'denied host\n' } },
          { name: 'deny-admin', match: { pathPrefix: '/admin' }, action: { type: 'respond', status: 403, body: 'denied\n' } },
          { name: 'moved', match: { pathPrefix: '/old' }, action: { type: 'redirect', location: 'https://{host}/new', status: 301 } },
          { name: 'app', action: { type: 'proxy', upstream: 'app' } },
        ],
      },
    }],
    ...extra,
  }));
  return { port, proxy, app };
}

const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);

test('paths and hosts spelt another way meet the deny routes: /%61dmin, //admin, /./admin, /x/../admin, example.com. (issue 19)', async (t) => {
  const { port, app } = await guardedSite(t);
  for (const path of ['/admin', '/%61dmin', '//admin', '/./admin', '/x/../admin', '/%2e/admin']) {
    assert.equal(statusOf(await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`)), 403, path);
  }
  assert.equal(statusOf(await rawExchange(port, 'GET / HTTP/1.1\r\nHost: example.com.\r\nConnection: close\r\n\r\n')), 403, 'a trailing dot names the same host');
  for (const path of ['/admin%2Fx', '/a%5Cb', '/a%00']) {
    assert.equal(statusOf(await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`)), 400, `${path}: ambiguous`);
  }
  const normal = await rawExchange(port, 'GET /%7Euser//docs/./a HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n', /GET \//);
  assert.match(normal, /GET \/~user\/docs\/a$/, 'the upstream gets the path that was matched');
  assert.deepEqual(app.seen, ['GET /~user/docs/a'], 'nothing denied reached the upstream');
});

test('malformed requests are refused: HTTP/0.9, an empty Host, a coding before chunked, 3,000 header fields (issue 19)', async (t) => {
  const { port, app } = await guardedSite(t);
  assert.notEqual(statusOf(await rawExchange(port, 'GET /\r\n\r\n', /\r\n\r\n|^$/)), 200, 'HTTP/0.9 is not served');
  assert.equal(statusOf(await rawExchange(port, 'GET / HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n')), 400, 'empty Host');
  assert.equal(statusOf(await rawExchange(port, 'POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n0\r\n\r\n')), 400, 'gzip, chunked');
  const fields = Array.from({ length: 3_000 }, (_, i) => `x${i}: 1\r\n`).join('');
  assert.equal(statusOf(await rawExchange(port, `GET / HTTP/1.1\r\nHost: app.test\r\n${fields}Connection: close\r\n\r\n`)), 431, '3,000 fields: 431, never a silent drop');
  assert.deepEqual(app.seen, []);
});

test('upgrades: h2c is refused by default, deny and redirect routes answer with their own status, the method is kept (issue 19)', async (t) => {
  const { port, app } = await guardedSite(t);
  const h2c = await rawExchange(port, 'GET / HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n');
  assert.equal(statusOf(h2c), 400, 'no h2c tunnel past the routes');
  const denied = await rawExchange(port, 'GET /admin HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n', /denied/);
  assert.equal(statusOf(denied), 403);
  const moved = await rawExchange(port, 'GET /old HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  assert.equal(statusOf(moved), 301);
  assert.match(moved, /location: https:\/\/app\.test\/new/i);
  await rawExchange(port, 'POST /ws HTTP/1.1\r\nHost: app.test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nContent-Length: 0\r\n\r\n', /POST|GET/);
  assert.deepEqual(app.seen, ['POST /ws'], 'a POST with Upgrade goes upstream as a POST');
});

test('slow request bodies hold no upstream connection: a GET is answered at once while 10 slow uploads from one address run on the same route (issue 19)', async (t) => {
  const { port, app } = await guardedSite(t, {}, { connections: 2 });
  const uploads: Socket[] = [];
  for (let i = 0; i < 10; i++) {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    t.after(() => socket.destroy());
    // Expect: 100-continue: the proxy's 100 says it has the headers and waits for the body.
    socket.write(`POST /upload/${i} HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n`);
    await once(socket, 'data');
    socket.write('x'); // one byte, then nothing
    uploads.push(socket);
  }
  const answer = await rawExchange(port, 'GET /normal HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n', /GET \/normal/);
  assert.equal(statusOf(answer), 200);
  assert.deepEqual(app.seen, ['GET /normal'], 'no upload reached the upstream: none holds one of its 2 connections');
});

test('a body sent slower than http.minRequestBodyRate gets 408 (on the injected clock)', async (t) => {
  const app = await echoUpstream(t);
  const clock = new FakeClock();
  const listen = await closedPort();
  const proxy = await ProxyServer.start(parseConfig({
    listeners: [{ host: '127.0.0.1', port: listen }],
    upstreams: [{ name: 'app', targets: [app.target] }],
    http: { minRequestBodyRate: 100 },
    routes: [{ name: 'web', action: { type: 'http', routes: [{ name: 'app', action: { type: 'proxy', upstream: 'app' } }] } }],
  }), { clock });
  t.after(() => proxy.shutdown(0));
  const socket = connect(listen, '127.0.0.1');
  socket.on('error', () => {});
  t.after(() => socket.destroy());
  const windowSet = clock.nextTimer();
  socket.write('POST /slow HTTP/1.1\r\nHost: app.test\r\nContent-Length: 10000\r\nExpect: 100-continue\r\n\r\n');
  await once(socket, 'data');
  socket.write('x'.repeat(600)); // 600 bytes in the first 5 s window: more than 100 B/s
  assert.equal(await windowSet, 5_000);
  let text = '';
  socket.on('data', (chunk: Buffer) => { text += String(chunk); });
  const closed = once(socket, 'close');
  await new Promise<void>((resolve) => socket.write('', () => resolve()));
  clock.advance(5_000); // first window: 600 bytes, enough
  clock.advance(5_000); // second: nothing
  await closed;
  assert.equal(statusOf(text), 408);
  assert.deepEqual(app.seen, []);
});

test('admin API: a foreign Host is refused (DNS rebinding), a non-loopback bind needs a token, /config shows file base names only (issue 19)', async (t) => {
  const files = certificateFiles(t);
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-admin-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'proxy.yaml');
  const config = (admin: object) => parseConfig({
    listeners: [{ host: '127.0.0.1', port: 0 }],
    certificates: [{ certFile: files.certFile, keyFile: files.keyFile }],
    routes: [{ name: 'tls', action: { type: 'terminate', routes: [{ name: 'ok', action: { type: 'respond', status: 204 } }] } }],
    admin: { host: '127.0.0.1', port: 0, ...admin },
  });
  writeFileSync(file, 'unused: the runtime is given its config\n');
  const logger = pino({ level: 'silent' });
  await assert.rejects(ProxyRuntime.start(file, config({ host: '0.0.0.0' }), { logger }), (err: unknown) => err instanceof ProxyConfigError && err.field === 'admin.host');
  await assert.rejects(ProxyRuntime.start(file, config({ host: '0.0.0.0', token: 'a-token-of-sixteen-chars' }), { logger }), (err: unknown) => err instanceof ProxyConfigError && err.field === 'admin.allowedHosts');

  const runtime = await ProxyRuntime.start(file, config({}), { logger });
  t.after(() => runtime.stop());
  const admin = runtime.adminUrl!;
  const ask = (path: string, host?: string) => request(`${admin}${path}`, { headers: host === undefined ? {} : { host } });
  assert.equal((await ask('/healthz', 'attacker.example:9901')).statusCode, 403, 'a rebinding page sends its own name');
  const answer = await ask('/config');
  assert.equal(answer.statusCode, 200);
  const text = await answer.body.text();
  assert.ok(!text.includes(dirname(files.certFile)), 'no absolute path');
  assert.match(text, /"certFile":"cert\.pem"/);
});
