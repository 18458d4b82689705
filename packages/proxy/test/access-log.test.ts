/**
 * Issue 22, item 2: the access log. One JSON line per HTTP request and per layer-4 connection,
 * checked field by field (a retried request, a stale-socket replay, a client that leaves, a
 * refused request), with no credential in it; sampling; reopening after a rotation; the
 * request id and traceparent toward the upstream. Real sockets, a real file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type ServerResponse } from 'node:http';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/proxy/config/config-loader.js';
import { ProxyServer } from '../src/proxy/proxy-server.js';
import { ProxyConfigError } from 'holdfast/internal/errors.js';
import { fetchOnce, startUpstream, type Info } from '../../../test/support/http-upstream.js';
import { freePort } from '../../../test/support/pebble.js';
import { startProxy as startProxyProcess } from '../../../test/support/proxy-harness.js';
import http2 from 'node:http2';

type Line = Record<string, unknown>;
type Hooks = { after(fn: () => unknown): void };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

function tempDir(t: Hooks): string {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-access-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * An HTTP/1.1 upstream that answers the first request of each connection and drops the
 * connection, unanswered, when a second request comes on it: to a pool that reuses the
 * connection, a stale keep-alive socket every other request.
 */
async function staleUpstream(t: Hooks): Promise<{ port: number; answered: () => number }> {
  let answered = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let requests = 0;
    socket.on('data', () => {
      if (++requests > 1) return socket.destroy();
      answered++;
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\nfresh');
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const socket of sockets) socket.destroy(); // the proxy's pooled connection would hold close() open
    return new Promise((resolve) => server.close(resolve));
  });
  return { port: (server.address() as { port: number }).port, answered: () => answered };
}

async function startProxy(t: Hooks, extra: Record<string, unknown>): Promise<{ proxy: ProxyServer; port: number; file: string; lines: () => Promise<Line[]> }> {
  const dir = tempDir(t);
  const file = join(dir, 'logs', 'access.log'); // the directory is made
  const port = await freePort();
  const { accessLog, ...rest } = extra as { accessLog?: Record<string, unknown> };
  const proxy = await ProxyServer.start(parseConfig({
    listeners: [{ host: '127.0.0.1', port }],
    ...rest,
    accessLog: { output: file, ...accessLog },
  }));
  t.after(() => proxy.shutdown(0));
  const lines = async () => {
    await proxy.telemetry.accessLog.current!.flush();
    return readFileSync(file, 'utf8').trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Line);
  };
  return { proxy, port, file, lines };
}

/** The line of the request to `path` (its first, in the order written). */
function lineOf(lines: Line[], path: string): Line {
  const found = lines.find((l) => l.type === 'http' && typeof l.path === 'string' && l.path.startsWith(path));
  assert.ok(found !== undefined, `a line for ${path} in ${JSON.stringify(lines)}`);
  return found;
}

test('access log: one line per request and per connection, field by field, with no credential in it', async (t) => {
  const app = await startUpstream(t, 'app');
  const stale = await staleUpstream(t);
  const refusing = await freePort(); // nothing listens: the first target refuses, the request goes to the next
  const { port, file, lines } = await startProxy(t, {
    upstreams: [
      { name: 'app', targets: [`127.0.0.1:${refusing}`, `127.0.0.1:${app.port}`], balance: 'round-robin' },
      { name: 'stale', targets: [`127.0.0.1:${stale.port}`] },
    ],
    routes: [{ name: 'web', action: { type: 'http', routes: [
      { name: 'stale', match: { pathPrefix: '/stale' }, action: { type: 'proxy', upstream: 'stale' } },
      { name: 'fixed', match: { pathPrefix: '/fixed' }, action: { type: 'respond', status: 200, body: 'fixed\n' } },
      { name: 'app', action: { type: 'proxy', upstream: 'app' } },
    ] } }],
    accessLog: { query: true },
  });
  // A GET with credentials everywhere a client puts them, a request id from an untrusted client, and a trace.
  const secrets = { authorization: 'Bearer s3cret-bearer', cookie: 'session=s3cret-cookie', 'x-request-id': 'client-chosen-id', traceparent: TRACEPARENT };
  const answer = await fetchOnce(port, '/info?access_token=s3cret-query&page=2&API_KEY=s3cret-key', { headers: secrets });
  const info = JSON.parse(answer.body) as Info;
  const sentId = info.headers['x-request-id'] as string;
  assert.match(sentId, UUID, 'an untrusted client\'s X-Request-Id is replaced');
  assert.equal(info.headers.traceparent, TRACEPARENT, 'traceparent goes on as sent');
  // A POST with a body (not idempotent: one attempt), a stale-socket replay, a fixed answer, no route.
  await fetchOnce(port, '/upload', { method: 'POST', body: 'hello', headers: { 'content-type': 'text/plain' } });
  // The proxy keeps its upstream connection: the next request on it is dropped, and replayed.
  for (const path of ['/stale/1', '/stale/2', '/stale/3']) assert.equal((await fetchOnce(port, path)).body, 'fresh');
  assert.equal((await fetchOnce(port, '/fixed')).status, 200);
  // A client that leaves before its response.
  const hung = new Promise<ServerResponse>((resolve) => app.routes.set('/hang', (_req, res) => resolve(res)));
  const leaving = httpRequest({ host: '127.0.0.1', port, path: '/hang', agent: false });
  leaving.on('error', () => {});
  leaving.end();
  const upstreamSide = await hung;
  leaving.destroy();
  if (!upstreamSide.closed) await once(upstreamSide, 'close');

  await new Promise((resolve) => setImmediate(resolve));
  const all = await lines();
  const get = lineOf(all, '/info');
  assert.match(String(get.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual({ ...get, time: 0, durationMs: 0, upstreamMs: 0 }, {
    log: 'access', time: 0, type: 'http', client: '127.0.0.1', method: 'GET', host: `127.0.0.1:${port}`,
    path: '/info?access_token=REDACTED&page=2&API_KEY=REDACTED', protocol: 'HTTP/1.1', status: 200,
    bytesIn: 0, bytesOut: Buffer.byteLength(answer.body), durationMs: 0, route: 'app', upstream: `127.0.0.1:${app.port}`,
    upstreamMs: 0, attempts: 2, replays: 0, end: 'complete', requestId: sentId, traceId: TRACE_ID,
  });
  assert.ok(typeof get.durationMs === 'number' && typeof get.upstreamMs === 'number' && get.durationMs >= get.upstreamMs);
  const post = lineOf(all, '/upload');
  assert.deepEqual([post.method, post.bytesIn, post.attempts, post.status, post.end], ['POST', 5, 1, 200, 'complete']);
  assert.deepEqual([lineOf(all, '/stale/1').attempts, lineOf(all, '/stale/1').replays], [1, 0]);
  for (const path of ['/stale/2', '/stale/3']) {
    const replayed = lineOf(all, path);
    assert.deepEqual([replayed.status, replayed.attempts, replayed.replays, replayed.upstream], [200, 2, 1, `127.0.0.1:${stale.port}`]);
  }
  assert.equal(stale.answered(), 3);
  const fixed = lineOf(all, '/fixed');
  assert.deepEqual([fixed.route, fixed.upstream, fixed.attempts, fixed.bytesOut, fixed.status], ['fixed', undefined, 0, 6, 200]);
  const left = lineOf(all, '/hang');
  assert.deepEqual([left.status, left.end, left.bytesOut], [499, 'client-closed', 0]);
  const connections = all.filter((l) => l.type === 'l4');
  assert.ok(connections.length >= 6, `a line per connection: ${connections.length}`);
  for (const c of connections) {
    assert.equal(c.route, 'web');
    assert.equal(c.client, '127.0.0.1');
    assert.ok(typeof c.bytesIn === 'number' && c.bytesIn > 0 && typeof c.bytesOut === 'number' && typeof c.end === 'string');
  }
  const text = readFileSync(file, 'utf8');
  for (const secret of ['s3cret', 'client-chosen-id', 'Bearer', 'session=']) assert.equal(text.includes(secret), false, `${secret} is not in the log`);
});

test('access log: sample 0 keeps only errors and requests cut short; without query: true the query is left out', async (t) => {
  const app = await startUpstream(t, 'app');
  const { port, lines } = await startProxy(t, {
    upstreams: [{ name: 'app', targets: [`127.0.0.1:${app.port}`] }],
    routes: [{ name: 'web', action: { type: 'http', routes: [
      { name: 'app', match: { hosts: ['app.test'] }, action: { type: 'proxy', upstream: 'app' } },
    ] } }],
    accessLog: { sample: 0, connections: false },
  });
  for (let i = 0; i < 5; i++) assert.equal((await fetchOnce(port, `/ok?token=t${i}`, { headers: { host: 'app.test' } })).status, 200);
  assert.equal((await fetchOnce(port, '/missing?token=x', { headers: { host: 'other.test' } })).status, 404);
  const all = await lines();
  assert.deepEqual(all.map((l) => [l.type, l.status, l.path]), [['http', 404, '/missing']]);
});

test('access log: reopenLogs() after a rotation writes to a new file; the moved one keeps its lines', async (t) => {
  const { proxy, port, file, lines } = await startProxy(t, {
    routes: [{ name: 'web', action: { type: 'http', routes: [{ name: 'fixed', action: { type: 'respond', status: 204, body: '' } }] } }],
    accessLog: { connections: false },
  });
  await fetchOnce(port, '/before');
  await proxy.telemetry.accessLog.current!.flush();
  renameSync(file, `${file}.1`);
  proxy.reopenLogs();
  await fetchOnce(port, '/after');
  assert.deepEqual((await lines()).map((l) => l.path), ['/after']);
  assert.deepEqual(readFileSync(`${file}.1`, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as Line).path), ['/before']);
});

test('access log: an output that cannot be opened is a config error naming accessLog.output', async (t) => {
  const port = await freePort();
  const notADir = join(tempDir(t), 'a-file');
  writeFileSync(notADir, '');
  const config = parseConfig({
    listeners: [{ host: '127.0.0.1', port }],
    routes: [{ name: 'web', action: { type: 'http', routes: [{ name: 'fixed', action: { type: 'respond', status: 204, body: '' } }] } }],
    accessLog: { output: join(notADir, 'access.log') },
  });
  await assert.rejects(ProxyServer.start(config), (err: Error) => err instanceof ProxyConfigError && err.field === 'accessLog.output');
  assert.throws(() => parseConfig({ listeners: [{ port }], routes: [{ name: 'r', action: { type: 'reject' } }], accessLog: { output: 'relative.log' } }), /accessLog\.output: expected stdout or an absolute file path/);
  assert.throws(() => parseConfig({ listeners: [{ port }], routes: [{ name: 'r', action: { type: 'reject' } }], accessLog: { sample: 2 } }), /accessLog\.sample: expected sample <= 1/);
});

test('X-Request-Id: a trusted proxy\'s is kept, an invalid one replaced; requestId: always keeps a client\'s; off leaves it alone', async (t) => {
  const app = await startUpstream(t, 'app');
  const seen = async (http: Record<string, unknown>, id: string): Promise<unknown> => {
    const port = await freePort();
    const proxy = await ProxyServer.start(parseConfig({
      listeners: [{ host: '127.0.0.1', port }],
      upstreams: [{ name: 'app', targets: [`127.0.0.1:${app.port}`] }],
      routes: [{ name: 'web', action: { type: 'http', routes: [{ name: 'app', action: { type: 'proxy', upstream: 'app' } }] } }],
      http,
    }));
    try {
      return (JSON.parse((await fetchOnce(port, '/info', { headers: { 'x-request-id': id } })).body) as Info).headers['x-request-id'];
    } finally {
      await proxy.shutdown(0);
    }
  };
  assert.equal(await seen({ trustedProxies: ['127.0.0.1'] }, 'edge-1234'), 'edge-1234');
  assert.match(String(await seen({ trustedProxies: ['127.0.0.1'] }, 'has "quotes"')), UUID);
  assert.match(String(await seen({}, 'edge-1234')), UUID);
  assert.equal(await seen({ requestId: 'always' }, 'edge-1234'), 'edge-1234');
  assert.equal(await seen({ requestId: 'off' }, 'edge-1234'), 'edge-1234');
  assert.equal(await seen({ requestId: 'off' }, ''), '');
});

test('holdfast proxy: SIGUSR1 reopens the access log file; on stdout the lines say log: access beside the proxy\'s own', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'access.log');
  const routes = [{ name: 'web', action: { type: 'http' as const, routes: [{ name: 'fixed', action: { type: 'respond' as const, status: 200, body: 'ok' } }] } }];
  const proxy = await startProxyProcess(t, { listeners: [{ name: 'in', host: '127.0.0.1', port: 0 }], routes, accessLog: { output: file, connections: false } });
  await fetchOnce(proxy.ports.in!, '/first');
  renameSync(file, `${file}.1`); // what logrotate does
  const mark = proxy.log.mark;
  proxy.child.kill('SIGUSR1');
  await proxy.log.waitFor((l) => l.msg === 'access log reopened', mark);
  await fetchOnce(proxy.ports.in!, '/second');
  assert.equal(await proxy.stop(), 0); // the last lines are written on the way out
  const pathsIn = (f: string) => readFileSync(f, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as Line).path);
  assert.deepEqual(pathsIn(`${file}.1`), ['/first']);
  assert.deepEqual(pathsIn(file), ['/second']);

  const onStdout = await startProxyProcess(t, { listeners: [{ name: 'in', host: '127.0.0.1', port: 0 }], routes, accessLog: { connections: false } });
  await fetchOnce(onStdout.ports.in!, '/on-stdout');
  const line = await onStdout.log.waitFor((l) => l.log === 'access');
  assert.deepEqual([line.path, line.status], ['/on-stdout', 200]);
});

test('access log: an HTTP/2 request is logged with its :authority and protocol HTTP/2.0', async (t) => {
  const { port, lines } = await startProxy(t, {
    routes: [{ name: 'web', action: { type: 'http', routes: [{ name: 'fixed', action: { type: 'respond', status: 200, body: 'h2' } }] } }],
    http: { http2: { cleartext: true } },
    accessLog: { connections: false },
  });
  const session = http2.connect(`http://127.0.0.1:${port}`);
  t.after(() => session.destroy());
  const stream = session.request({ ':path': '/over-h2', ':authority': 'h2.test' });
  stream.resume();
  await once(stream, 'end');
  session.close();
  await once(session, 'close');
  const [line] = await lines();
  assert.deepEqual([line!.host, line!.path, line!.protocol, line!.status, line!.bytesOut], ['h2.test', '/over-h2', 'HTTP/2.0', 200, 2]);
});

test('access log: a Host with C1 control bytes (U+009B is CSI to a terminal) is written escaped', async (t) => {
  const { port, file, lines } = await startProxy(t, {
    routes: [{ name: 'web', action: { type: 'http', routes: [{ name: 'fixed', action: { type: 'respond', status: 200, body: 'ok' } }] } }],
    accessLog: { connections: false },
  });
  const socket = connect(port, '127.0.0.1');
  // Node refuses such bytes in the path, but a field value may hold them (obs-text): the Host is refused, and logged.
  socket.end(Buffer.from('GET /c1 HTTP/1.1\r\nHost: a\x9b31m\x85.test\r\nConnection: close\r\n\r\n', 'latin1'));
  socket.resume();
  await once(socket, 'close');
  const [line] = await lines();
  assert.deepEqual([line!.host, line!.status], ['a\u009b31m\u0085.test', 400], 'the same text, once parsed');
  const raw = readFileSync(file, 'latin1');
  assert.equal(/[\x7f-\x9f]/.test(raw), false, `no raw C1 or DEL byte: ${raw}`);
  assert.match(raw, /a\\u009b31m\\u0085\.test/);
});

test('access log: a reload that fails after the new log was opened keeps the running log, and closes the new one', async (t) => {
  const { proxy, port, file, lines } = await startProxy(t, {
    routes: [{ name: 'web', action: { type: 'http', routes: [{ name: 'fixed', action: { type: 'respond', status: 204, body: '' } }] } }],
    accessLog: { connections: false },
  });
  const running = proxy.telemetry.accessLog.current;
  const other = join(tempDir(t), 'other.log');
  // A listener on a port another socket holds: the reload fails after the access log was opened.
  const taken = createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  t.after(() => new Promise((resolve) => taken.close(resolve)));
  const bad = parseConfig({
    listeners: [{ host: '127.0.0.1', port }, { host: '127.0.0.1', port: (taken.address() as { port: number }).port }],
    routes: [{ name: 'web', action: { type: 'http', routes: [{ name: 'fixed', action: { type: 'respond', status: 204, body: '' } }] } }],
    accessLog: { output: other, connections: false },
  });
  await assert.rejects(proxy.reload(bad), /EADDRINUSE/);
  assert.equal(proxy.telemetry.accessLog.current, running, 'the running log stays');
  await fetchOnce(port, '/still');
  assert.deepEqual((await lines()).map((l) => l.path), ['/still']);
  assert.equal(readFileSync(other, 'utf8'), '', 'the new log took no line');
  assert.ok(file.length > 0);
});
