/**
 * Issue 21, item 2: HTTP/2 toward clients. h2 by ALPN on terminating routes and h2c with
 * prior knowledge on a cleartext listener, beside HTTP/1.1 on the same listeners; the
 * HTTP/1.1 smuggling vectors sent as h2; the rapid-reset and CONTINUATION floods; GOAWAY on
 * shutdown with streams in flight. Real sockets, real TLS, an in-process proxy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http2, { type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import type { ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/proxy/config/config-loader.js';
import { ProxyServer } from '../src/proxy/proxy-server.js';
import { ABUSE_LINGER_MS } from '../src/proxy/http/h2-front.js';
import { fetchOnce, startUpstream, type Info, type Upstream } from '../../../test/support/http-upstream.js';
import { FLAG, FRAME, frame, headerBlock, RawH2, rstStream } from '../../../test/support/h2-raw.js';
import { freePort } from '../../../test/support/pebble.js';
import { testCa } from '../../../test/support/tls-fixtures.js';
import { FakeClock } from '../../../test/support/fake-clock.js';

const HOST = 'www.example.test';

interface Setup {
  proxy: ProxyServer;
  app: Upstream;
  tlsPort: number;
  plainPort: number;
  ca: Buffer;
}

async function setup(t: { after(fn: () => unknown): void }, http: object = {}, clock?: FakeClock): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-h2-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ca = testCa();
  const { cert, key } = ca.issue([HOST]);
  writeFileSync(join(dir, 'cert.pem'), cert);
  writeFileSync(join(dir, 'key.pem'), key);
  const app = await startUpstream(t, 'app');
  const [tlsPort, plainPort] = [await freePort(), await freePort()];
  const routes = [
    { name: 'fixed', match: { pathPrefix: '/fixed' }, action: { type: 'respond', status: 200, body: 'fixed\n' } },
    { name: 'app', action: { type: 'proxy', upstream: 'app' } },
  ];
  const proxy = await ProxyServer.start(parseConfig({
    listeners: [{ host: '127.0.0.1', port: tlsPort }, { host: '127.0.0.1', port: plainPort }],
    upstreams: [{ name: 'app', targets: [`127.0.0.1:${app.port}`] }],
    routes: [
      { name: 'tls', match: { ports: [tlsPort] }, action: { type: 'terminate', routes } },
      { name: 'plain', match: { ports: [plainPort] }, action: { type: 'http', routes } },
    ],
    certificates: [{ certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') }],
    http: { http2: { cleartext: true }, ...http },
  }), clock === undefined ? {} : { clock });
  t.after(() => proxy.shutdown(0));
  return { proxy, app, tlsPort, plainPort, ca: ca.cert };
}

function h2Session(t: { after(fn: () => unknown): void }, url: string, ca?: Buffer): ClientHttp2Session {
  const session = http2.connect(url, ca === undefined ? {} : { ca, servername: HOST });
  session.on('error', () => {});
  t.after(() => session.destroy());
  return session;
}

async function h2Request(session: ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: string }> {
  const stream = session.request(headers, { endStream: body === undefined });
  if (body !== undefined) stream.end(body);
  const [responseHeaders] = await once(stream, 'response') as [IncomingHttpHeaders];
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return { status: Number(responseHeaders[':status']), headers: responseHeaders, body: Buffer.concat(chunks).toString() };
}

test('an h2 client and an HTTP/1.1 client get the same answers from one terminating listener, and from one cleartext listener (h2c)', async (t) => {
  const s = await setup(t);
  const tlsH2 = h2Session(t, `https://127.0.0.1:${s.tlsPort}`, s.ca);
  const plainH2 = h2Session(t, `http://127.0.0.1:${s.plainPort}`);
  for (const [label, session, port, tls] of [['h2', tlsH2, s.tlsPort, true], ['h2c', plainH2, s.plainPort, false]] as const) {
    const options = tls ? { tls: { ca: s.ca, servername: HOST } } : {};
    const h1Fixed = await fetchOnce(port, '/fixed', { ...options, headers: { host: HOST } });
    const h2Fixed = await h2Request(session, { ':path': '/fixed', ':authority': HOST });
    assert.deepEqual([h2Fixed.status, h2Fixed.body, h2Fixed.headers['content-type']], [h1Fixed.status, h1Fixed.body, h1Fixed.headers['content-type']], label);

    const h1 = await fetchOnce(port, '/info?q=1', { ...options, method: 'POST', body: 'hello', headers: { host: HOST, 'x-trace': 'a' } });
    const h2 = await h2Request(session, { ':method': 'POST', ':path': '/info?q=1', ':authority': HOST, 'x-trace': 'a' }, 'hello');
    assert.equal(h2.status, h1.status, label);
    assert.equal(h2.headers['content-type'], h1.headers['content-type']);
    assert.equal(h2.headers['x-upstream-hop'], undefined, 'hop-by-hop fields the upstream listed are not relayed');
    const [a, b] = [JSON.parse(h1.body) as Info, JSON.parse(h2.body) as Info];
    for (const field of ['method', 'url', 'bodyBytes'] as const) assert.equal(b[field], a[field], `${label}: ${field}`);
    for (const name of ['host', 'x-trace', 'x-forwarded-proto', 'x-forwarded-host']) assert.equal(b.headers[name], a.headers[name], `${label}: ${name}`);
    assert.equal(b.rawHeaders.some((name, i) => i % 2 === 0 && name.startsWith(':')), false, 'no pseudo-header goes upstream');
  }
  assert.equal((tlsH2.socket as unknown as { alpnProtocol: string }).alpnProtocol, 'h2');
  const metrics = await s.proxy.metrics.registry.getSingleMetricAsString('holdfast_proxy_http_connections_total');
  assert.match(metrics, /protocol="h2"\} [2-9]/);
  assert.match(metrics, /protocol="http\/1\.1"\} [4-9]/);
});

test('the HTTP/1.1 smuggling vectors, sent as h2, are refused and never reach the upstream', async (t) => {
  const s = await setup(t);
  const base = (path: string): [string, string][] => [[':method', 'POST'], [':scheme', 'https'], [':path', path], [':authority', HOST]];
  const refused: { name: string; frames: (c: RawH2) => Buffer[] }[] = [
    { name: 'transfer-encoding', frames: (c) => [c.headers(1, [...base('/smuggle'), ['transfer-encoding', 'chunked']])] },
    { name: 'connection', frames: (c) => [c.headers(1, [...base('/smuggle'), ['connection', 'keep-alive']])] },
    { name: 'te other than trailers', frames: (c) => [c.headers(1, [...base('/smuggle'), ['te', 'gzip']])] },
    { name: 'upper-case name', frames: (c) => [c.headers(1, [...base('/smuggle'), ['X-Upper', 'a']])] },
    { name: 'content-length above the DATA', frames: (c) => [c.headers(1, [...base('/smuggle'), ['content-length', '10']], false), frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.from('abc'))] },
    { name: 'content-length below the DATA', frames: (c) => [c.headers(1, [...base('/smuggle'), ['content-length', '2']], false), frame(FRAME.DATA, FLAG.END_STREAM, 1, Buffer.from('abcdef'))] },
    { name: 'Host differing from :authority', frames: (c) => [c.headers(1, [...base('/smuggle'), ['host', 'other.example.test']])] },
    { name: 'no :path', frames: (c) => [c.headers(1, base('/smuggle').filter(([n]) => n !== ':path'))] },
    { name: 'header list over http.maxHeaderBytes', frames: (c) => [c.headers(1, [...base('/smuggle'), ['x-big', 'b'.repeat(20_000)]])] },
  ];
  for (const vector of refused) {
    const client = await RawH2.open(s.tlsPort, HOST);
    client.send(...vector.frames(client));
    const outcome = await client.outcome(1);
    client.destroy();
    if (outcome === 'headers') {
      const status = await refusalStatus(s, vector.name);
      assert.ok(status >= 400 && status < 500, `${vector.name}: answered ${status}`);
    } else {
      assert.match(outcome, /^(rst:1|goaway|closed)$/, `${vector.name}: ${outcome}`);
    }
  }
  assert.equal(s.app.hits.get('/smuggle') ?? 0, 0, 'no refused vector reached the upstream');

  // nghttp2 drops a field with CR, LF or NUL in its value, or a space in its name, before the
  // proxy sees the request (Node does not expose its invalid-header callback): the request
  // goes on without it, and the field never reaches the upstream.
  const seen: string[][] = [];
  s.app.routes.set('/dropped', (req, res) => { seen.push(req.rawHeaders); res.end('ok'); });
  for (const field of [['x-bad', 'a\rb'], ['x-bad', 'a\nb'], ['x-bad', 'a\0b'], ['x bad', 'a'], ['x-bad', ' a']] as [string, string][]) {
    const client = await RawH2.open(s.tlsPort, HOST);
    client.send(client.headers(1, [...base('/dropped'), field]));
    await client.outcome(1);
    client.destroy();
  }
  assert.equal(seen.length, 5);
  for (const raw of seen) assert.equal(raw.some((x) => /x.bad|[\r\n\0]/.test(x)), false, JSON.stringify(raw));
});

/** The status the proxy answered a refused request with, from the requests metric (the raw client does not decode HPACK). */
async function refusalStatus(s: Setup, name: string): Promise<number> {
  const { values } = await s.proxy.metrics.registry.getSingleMetric('holdfast_proxy_http_requests_total')!.get();
  const refused = values.filter((v) => Number(v.labels.status) >= 400 && v.labels.route === 'none');
  assert.ok(refused.length > 0, `${name}: answered, but no refusal counted`);
  return Number(refused[0]!.labels.status);
}

/** Open descriptors of this process: the proxy, the upstream and the test's own clients. */
function descriptors(): number {
  return readdirSync('/proc/self/fd').length;
}

test('a rapid-reset flood (CVE-2023-44487) gets GOAWAY ENHANCE_YOUR_CALM; the proxy lives on with 0 connections and its baseline descriptors', async (t) => {
  const s = await setup(t, { http2: { cleartext: true, maxGlitches: 50 } });
  await fetchOnce(s.tlsPort, '/fixed', { tls: { ca: s.ca, servername: HOST }, headers: { host: HOST } });
  await s.proxy.tracker.whenIdle();
  const baseline = descriptors();
  const client = await RawH2.open(s.tlsPort, HOST);
  const burst: Buffer[] = [];
  // Regression (a CI flake): the flood goes on well past the limit, so the proxy has it unread
  // when it closes. Destroying the session at once then closed the socket with unread data, and
  // the kernel's RST threw the GOAWAY away. 990 resets stay under nghttp2's own RST limit (1000).
  const pad: [string, string] = ['x-pad', 'p'.repeat(2000)];
  for (let id = 1; id <= 2 * 990; id += 2) burst.push(client.headers(id, [[':method', 'GET'], [':scheme', 'https'], [':path', '/info'], [':authority', HOST], pad]), rstStream(id));
  client.send(...burst);
  const goaway = await client.waitFor((f) => f.type === FRAME.GOAWAY);
  assert.ok(goaway !== undefined, 'a GOAWAY before the close');
  assert.equal(goaway.payload.readUInt32BE(4), http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  await client.closed;
  await s.proxy.tracker.whenIdle();
  assert.equal(s.proxy.tracker.active, 0);
  const answer = await fetchOnce(s.tlsPort, '/fixed', { tls: { ca: s.ca, servername: HOST }, headers: { host: HOST } });
  assert.equal(answer.status, 200, 'the proxy serves on');
  await s.proxy.tracker.whenIdle();
  // Every upstream request the flood started was aborted with its stream, and its connection with it.
  while (s.app.sockets.size > 0) await once([...s.app.sockets][0]!, 'close');
  assert.equal(s.proxy.upstreamSockets(), 0);
  assert.ok(descriptors() <= baseline, `descriptors: ${descriptors()}, before the flood ${baseline}`);
  const abusive = await s.proxy.metrics.registry.getSingleMetricAsString('holdfast_proxy_h2_sessions_closed_abusive_total');
  assert.match(abusive, /reason="glitches"\} 1/);
});

// On the injected clock (a CI flake on Node 22: the client's own reading of the real time since
// the GOAWAY arrived fell short of the proxy's, by the GOAWAY's delivery under load).
test('a session cut off for abuse with a stream still in flight is destroyed ABUSE_LINGER_MS after its GOAWAY, the stream aborted upstream', async (t) => {
  const clock = new FakeClock();
  const s = await setup(t, { http2: { cleartext: true, maxGlitches: 10 } }, clock);
  const hung = new Promise<ServerResponse>((resolve) => s.app.routes.set('/hang', (_req, res) => resolve(res)));
  const client = await RawH2.open(s.tlsPort, HOST);
  client.socket.allowHalfOpen = true; // the client never closes its side: only the linger ends the connection
  client.send(client.headers(1, [[':method', 'GET'], [':scheme', 'https'], [':path', '/hang'], [':authority', HOST]]));
  const upstreamResponse = await hung;
  const burst: Buffer[] = [];
  for (let id = 3; id <= 3 + 2 * 20; id += 2) burst.push(client.headers(id, [[':method', 'GET'], [':scheme', 'https'], [':path', '/info'], [':authority', HOST]]), rstStream(id));
  client.send(...burst);
  const goaway = await client.waitFor((f) => f.type === FRAME.GOAWAY);
  assert.equal(goaway?.payload.readUInt32BE(4), http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
  const cut = new Promise((resolve) => { client.socket.once('end', resolve); client.socket.once('close', resolve); });
  // Just before the linger is up, the connection still answers: a PING comes back acknowledged.
  clock.advance(ABUSE_LINGER_MS - 1);
  const pong = Promise.race([client.waitFor((f) => f.type === FRAME.PING && (f.flags & FLAG.ACK) !== 0), cut.then(() => undefined)]);
  client.send(frame(FRAME.PING, 0, 0, Buffer.alloc(8)));
  assert.notEqual(await pong, undefined, 'stream 1 is still in flight: the session waits for it, not cut off before the linger');
  // The proxy's side closing once it is up: a FIN (the half-open client keeps its own side) or a RST.
  clock.advance(1);
  await cut;
  client.destroy();
  await s.proxy.tracker.whenIdle();
  assert.equal(s.proxy.tracker.active, 0);
  if (!upstreamResponse.closed) await once(upstreamResponse, 'close'); // the request in flight was aborted upstream
  assert.equal(upstreamResponse.writableEnded, false);
});

test('regression: a stream the client resets while its request is in flight aborts the upstream request', async (t) => {
  const s = await setup(t);
  const hung = new Promise<ServerResponse>((resolve) => s.app.routes.set('/hang', (_req, res) => resolve(res)));
  const client = await RawH2.open(s.tlsPort, HOST);
  t.after(() => client.destroy());
  client.send(client.headers(1, [[':method', 'GET'], [':scheme', 'https'], [':path', '/hang'], [':authority', HOST]]));
  const upstreamResponse = await hung;
  client.send(rstStream(1));
  // Before the fix the compat response's writableFinished (its reset stream's) said "finished",
  // and the upstream request waited for an answer that no one would read.
  if (!upstreamResponse.closed) await once(upstreamResponse, 'close');
  assert.equal(upstreamResponse.writableEnded, false, 'aborted, not answered');
  assert.equal(client.socket.destroyed, false, 'the session lives on');
});

test('a CONTINUATION flood (CVE-2024-27316) is cut off; the proxy lives on with 0 connections and its baseline descriptors', async (t) => {
  const s = await setup(t);
  await fetchOnce(s.tlsPort, '/fixed', { tls: { ca: s.ca, servername: HOST }, headers: { host: HOST } });
  await s.proxy.tracker.whenIdle();
  const baseline = descriptors();
  const client = await RawH2.open(s.tlsPort, HOST);
  const block = headerBlock([[':method', 'GET'], [':scheme', 'https'], [':path', '/fixed'], [':authority', HOST]]);
  client.send(frame(FRAME.HEADERS, FLAG.END_STREAM, 1, block));
  const filler = frame(FRAME.CONTINUATION, 0, 1, headerBlock([['x-a', 'b']]));
  for (let i = 0; i < 20_000 && !client.socket.destroyed; i++) if (!client.send(filler)) await Promise.race([once(client.socket, 'drain'), client.closed]);
  await client.closed;
  assert.equal(client.frames.some((f) => f.type === FRAME.HEADERS), false, 'the request never completed');
  await s.proxy.tracker.whenIdle();
  assert.equal(s.proxy.tracker.active, 0);
  const answer = await fetchOnce(s.tlsPort, '/fixed', { tls: { ca: s.ca, servername: HOST }, headers: { host: HOST } });
  assert.equal(answer.status, 200);
  await s.proxy.tracker.whenIdle();
  assert.ok(descriptors() <= baseline, `descriptors: ${descriptors()}, before the flood ${baseline}`);
});

test('regression: a client that ends its h2 connection (FIN) leaves no connection behind (the proxy allows half-open sockets)', async (t) => {
  const s = await setup(t);
  for (const [port, servername] of [[s.tlsPort, HOST], [s.plainPort, undefined]] as const) {
    const client = await RawH2.open(port, servername);
    client.send(client.headers(1, [[':method', 'GET'], [':scheme', 'https'], [':path', '/fixed'], [':authority', HOST]]));
    assert.equal(await client.outcome(1), 'headers');
    client.socket.end();
    await client.closed;
    await s.proxy.tracker.whenIdle(); // before the fix: until the session's idle timeout, 65 s
    assert.equal(s.proxy.tracker.active, 0);
  }
});

test('regression: a client that ends its connection (FIN) with a stream that cannot finish (no flow-control window) leaves no connection behind', async (t) => {
  // What h2load -D does at its deadline: streams in flight, their responses blocked on a window
  // the client will never open again, then FIN. The session waited for them until its idle
  // timeout (65 s), and a shutdown for its drain deadline (30 s).
  const s = await setup(t);
  const client = await RawH2.open(s.tlsPort, HOST);
  const noWindow = Buffer.alloc(6);
  noWindow.writeUInt16BE(0x4, 0); // SETTINGS_INITIAL_WINDOW_SIZE
  noWindow.writeUInt32BE(0, 2);
  client.send(frame(FRAME.SETTINGS, 0, 0, noWindow));
  client.send(client.headers(1, [[':method', 'GET'], [':scheme', 'https'], [':path', '/info'], [':authority', HOST]]));
  assert.equal(await client.outcome(1), 'headers', 'the response started; its body waits for a window');
  const ended = performance.now();
  client.socket.end();
  await client.closed;
  await s.proxy.tracker.whenIdle();
  assert.equal(s.proxy.tracker.active, 0);
  assert.ok(performance.now() - ended < 5_000, 'closed within the FIN grace, not at the session timeout');
});

test('shutdown sends GOAWAY: a stream in flight finishes, then the proxy has drained', async (t) => {
  const s = await setup(t);
  let release = () => {};
  const arrived = new Promise<void>((resolve) => {
    s.app.routes.set('/slow', (_req, res) => {
      release = () => res.end('done');
      resolve();
    });
  });
  const session = h2Session(t, `https://127.0.0.1:${s.tlsPort}`, s.ca);
  const answer = h2Request(session, { ':path': '/slow', ':authority': HOST });
  await arrived;
  const goaway = once(session, 'goaway');
  const stopped = s.proxy.shutdown(30_000);
  await goaway;
  release();
  const { status, body } = await answer;
  assert.deepEqual([status, body], [200, 'done']);
  assert.deepEqual(await stopped, { drained: true, destroyed: 0 });
});
