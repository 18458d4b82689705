import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { proxyConfigSchema } from '../src/proxy/config/config.js';
import { Upstream, type UpstreamHooks } from '../src/proxy/upstream/upstream.js';
import { ProxyServer } from '../src/proxy/proxy-server.js';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { closedPort } from '../../../test/support/helpers.js';

test('health-check thresholds on the injected clock: 3 failed rounds take a target out, 2 passes bring it back, with no real interval waited (issue 18)', async (t) => {
  let healthy = false;
  const server = createServer((_req, res) => { res.statusCode = healthy ? 200 : 500; res.end(); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const address = `127.0.0.1:${(server.address() as AddressInfo).port}`;

  const results: string[] = [];
  const changes: boolean[] = [];
  let onCheck: () => void = () => {};
  const hooks: UpstreamHooks = { ejected() {}, replayed() {}, checked(_upstream, _address, result) { results.push(result); onCheck(); }, healthChanged(_upstream, _address, up) { changes.push(up); } };
  const config = proxyConfigSchema.parse({
    listeners: [{ port: 0 }],
    upstreams: [{ name: 'h', targets: [address], healthCheck: { path: '/health', intervalMs: 60_000, unhealthyThreshold: 3, healthyThreshold: 2 } }],
    routes: [{ name: 'r', action: { type: 'http', routes: [{ name: 'h', action: { type: 'proxy', upstream: 'h' } }] } }],
  });
  const clock = new FakeClock();
  const checked = (n: number) => new Promise<void>((resolve) => { onCheck = () => { if (results.length >= n) resolve(); }; onCheck(); });
  const group = new Upstream(config.upstreams[0]!, { tls: undefined, connectMs: 5_000, hooks, clock });
  t.after(() => group.close());

  await checked(1); // the first round runs at once
  for (let round = 2; round <= 3; round++) {
    clock.advance(60_000);
    await checked(round);
  }
  assert.deepEqual(results, ['fail', 'fail', 'fail']);
  assert.deepEqual(changes, [false], 'out of rotation after the third failure');
  assert.equal(group.pick(), undefined);

  healthy = true;
  for (let round = 4; round <= 5; round++) {
    clock.advance(60_000);
    await checked(round);
  }
  assert.deepEqual(changes, [false, true], 'back after two passes');
  assert.equal(group.pick()?.address, address);
});

test('the drain deadline runs on the injected clock: shutdown ends a connection still open when the fake time is up (issue 18)', async (t) => {
  const sockets = new Set<Socket>();
  const backend = createTcpServer((socket) => { sockets.add(socket); socket.on('error', () => {}); });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  t.after(() => { for (const s of sockets) s.destroy(); backend.close(); });
  const config = proxyConfigSchema.parse({
    upstreams: [{ name: 'tcp', targets: [`127.0.0.1:${(backend.address() as AddressInfo).port}`] }],
    listeners: [{ host: '127.0.0.1', port: 0 }],
    routes: [{ name: 'tcp', action: { type: 'forward', upstream: 'tcp' } }],
    shutdown: { drainMs: 600_000 },
  });
  const clock = new FakeClock();
  const proxy = await ProxyServer.start(config, { clock });
  const reached = once(backend, 'connection');
  const client = connect(proxy.listeners[0]!.port, '127.0.0.1');
  client.on('error', () => {});
  t.after(() => client.destroy());
  await reached; // through to the backend: the connection is established, and stays open

  const stopping = proxy.shutdown();
  assert.equal(await clock.nextWait(), 600_000, 'the 10-minute drain deadline is a wait on the clock');
  clock.advance(600_000);
  const { drained, destroyed } = await stopping;
  assert.deepEqual({ drained, destroyed }, { drained: false, destroyed: 1 });
});

test('the splice and first-data timers run on the injected clock: idle, lifetime, half-close and first-data closes with no real time waited (issue 18)', async (t) => {
  const sockets = new Set<Socket>();
  const backend = createTcpServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('data', (chunk) => socket.write(chunk)); // an echo that never ends its side
  });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  t.after(() => { for (const s of sockets) s.destroy(); backend.close(); });
  const target = `127.0.0.1:${(backend.address() as AddressInfo).port}`;
  const clock = new FakeClock();
  const [idlePort, lifePort, helloPort] = [await closedPort(), await closedPort(), await closedPort()];
  const proxy = await ProxyServer.start(proxyConfigSchema.parse({
    upstreams: [{ name: 'echo', targets: [target] }],
    listeners: [idlePort, lifePort, helloPort].map((port) => ({ host: '127.0.0.1', port })),
    routes: [
      { name: 'idle', match: { ports: [idlePort] }, action: { type: 'forward', upstream: 'echo' } },
      { name: 'life', match: { ports: [lifePort] }, action: { type: 'forward', upstream: 'echo' }, timeouts: { idleMs: 0 } },
      { name: 'sni', match: { ports: [helloPort], sni: ['app.example.test'] }, action: { type: 'passthrough', upstream: 'echo' } },
    ],
    timeouts: { idleMs: 600_000, halfCloseMs: 30_000, lifetimeMs: 3_600_000, firstDataMs: 10_000 },
  }), { clock });
  t.after(() => proxy.shutdown(0));
  const closedReasons = async () => (await proxy.metrics.registry.metrics()).split('\n').filter((l) => l.startsWith('holdfast_proxy_connections_closed_total{')).join('\n');
  /** A connection through the proxy that has carried a byte both ways: its splice is running. */
  const spliced = async (port: number) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    t.after(() => socket.destroy());
    socket.write('x');
    await once(socket, 'data');
    return socket;
  };

  const idle = await spliced(idlePort);
  clock.advance(300_000); // the first check (every idleMs / 2) sees the byte just carried
  clock.advance(300_000); // one quiet check
  assert.equal(idle.destroyed, false, 'idle for idleMs, but seen quiet only once');
  clock.advance(300_000); // two in a row: closed, 1.5 × idleMs after the last byte at most
  await once(idle, 'close');
  assert.match(await closedReasons(), /route="idle",reason="idle-timeout"\} 1/);

  const half = await spliced(idlePort);
  half.end(); // the client's FIN; the backend never sends its own
  await once([...sockets].at(-1)!, 'end');
  clock.advance(30_000);
  await once(half, 'close');
  assert.match(await closedReasons(), /route="idle",reason="half-close-timeout"\} 1/);

  const old = await spliced(lifePort);
  clock.advance(3_600_000);
  await once(old, 'close');
  assert.match(await closedReasons(), /route="life",reason="max-lifetime"\} 1/);

  const timerSet = clock.nextTimer();
  const silent = connect(helloPort, '127.0.0.1'); // never sends its ClientHello
  silent.on('error', () => {});
  t.after(() => silent.destroy());
  assert.equal(await timerSet, 10_000, 'the first-data timer');
  clock.advance(10_000);
  await once(silent, 'close');
  assert.match(await closedReasons(), /route="none",reason="first-data-timeout"\} 1/);
});
