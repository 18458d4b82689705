import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { connect, createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { proxyConfigSchema } from '../../src/proxy/config/config.js';
import { UpstreamGroup, type UpstreamHooks } from '../../src/proxy/http/upstream-group.js';
import { ProxyServer } from '../../src/proxy/proxy-server.js';
import { FakeClock } from '../support/fake-clock.js';

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
  const hooks: UpstreamHooks = { ejected() {}, replayed() {}, checked(_route, _address, result) { results.push(result); onCheck(); }, healthChanged(_route, _address, up) { changes.push(up); } };
  const config = proxyConfigSchema.parse({
    listeners: [{ port: 0 }],
    routes: [{ name: 'r', action: { type: 'http', routes: [{ name: 'h', action: {
      type: 'proxy', targets: [address], healthCheck: { path: '/health', intervalMs: 60_000, unhealthyThreshold: 3, healthyThreshold: 2 },
    } }] } }],
  });
  const action = config.routes[0]!.action;
  assert.ok(action.type === 'http' && action.routes[0]!.action.type === 'proxy');
  const clock = new FakeClock();
  const checked = (n: number) => new Promise<void>((resolve) => { onCheck = () => { if (results.length >= n) resolve(); }; onCheck(); });
  const group = new UpstreamGroup('h', action.routes[0]!.action, undefined, hooks, clock);
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
    listeners: [{ host: '127.0.0.1', port: 0 }],
    routes: [{ name: 'tcp', action: { type: 'forward', targets: [`127.0.0.1:${(backend.address() as AddressInfo).port}`] } }],
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
