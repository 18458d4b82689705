import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { encodeProxyV1, readProxyHeader } from '../src/net/proxy-protocol.js';
import { closedPort } from '../../../test/support/helpers.js';
import { closed, dialProxy, echo, startProxy, tcpServer } from '../../../test/support/proxy-harness.js';

/** Writes `text` and resolves with the first chunk that comes back. */
async function roundTrip(socket: Socket, text: string): Promise<string> {
  const reply = once(socket, 'data');
  socket.write(text);
  return String(((await reply) as [Buffer])[0]);
}


describe('holdfast proxy', { concurrency: true }, () => {
  test('PROXY protocol: a trusted peer\'s header sets the client for limits, and the header sent on names that client', async (t) => {
    const headers: string[] = [];
    const backend = await tcpServer(t, (socket) => {
      socket.once('data', (chunk: Buffer) => {
        const header = readProxyHeader(chunk);
        headers.push(header.kind === 'header' ? `${header.version} ${header.addresses?.sourceAddress}` : 'none');
        socket.write('ok');
      });
    });
    const listen = await closedPort();
    const proxy = await startProxy(t, {
      upstreams: [{ name: 'db', targets: [`127.0.0.1:${backend.port}`], proxyProtocol: 'v1' }],
      listeners: [{ name: 'in', host: '127.0.0.1', port: listen, proxyProtocol: { trusted: ['127.0.0.0/8'] } }],
      routes: [{ name: 'db', action: { type: 'forward', upstream: 'db' } }],
      limits: { perIp: 1 },
    });
    const from = (ip: string) => encodeProxyV1({ family: 'IPv4', sourceAddress: ip, sourcePort: 40_000, destinationAddress: '127.0.0.1', destinationPort: listen });
    const a = await dialProxy(listen);
    assert.equal(await roundTrip(a, `${from('198.51.100.1').toString()}hi`), 'ok');
    const b = await dialProxy(listen);
    assert.equal(await roundTrip(b, `${from('198.51.100.2').toString()}hi`), 'ok', 'another client IP, its own limit');
    const c = await dialProxy(listen);
    const cClosed = closed(c);
    c.write(from('198.51.100.1'));
    await cClosed; // the same client IP as a: over its limit of 1
    const d = await dialProxy(listen);
    const dClosed = closed(d);
    d.write('no header from a trusted peer');
    await dClosed;
    assert.deepEqual(headers, ['1 198.51.100.1', '1 198.51.100.2']);
    const metrics = (await proxy.admin('/metrics')).text;
    assert.match(metrics, /holdfast_proxy_limit_refusals_total\{limit="per-ip",listener="in"\} 1/);
    assert.match(metrics, /holdfast_proxy_connections_closed_total\{route="none",reason="bad-proxy-header"\} 1/);
    a.destroy();
    b.destroy();
    await proxy.idle();
  });

  test('idle timeout, half-close grace and max lifetime end connections with their reasons', async (t) => {
    const silent = await tcpServer(t, () => {}, { allowHalfOpen: true }); // never answers, never ends
    const listen = await closedPort();
    const target = `127.0.0.1:${silent.port}`;
    const proxy = await startProxy(t, {
      upstreams: [{ name: 'r', targets: [target] }],
      listeners: [{ host: '127.0.0.1', port: listen }],
      routes: [{ name: 'r', action: { type: 'forward', upstream: 'r' } }],
      timeouts: { idleMs: 300, halfCloseMs: 200, lifetimeMs: 0 },
    });
    const idle = await dialProxy(listen);
    await closed(idle);
    const half = await dialProxy(listen);
    half.end(); // the backend never finishes its side
    await closed(half);
    await proxy.idle();
    // The admin API can say 0 open before the log lines are read from the pipe: awaited, not assumed.
    for (const reason of ['half-close-timeout', 'idle-timeout']) await proxy.log.waitFor((l) => l.msg === 'connection closed' && l.reason === reason);
    const reasons = proxy.log.lines.filter((l) => l.msg === 'connection closed').map((l) => l.reason);
    assert.deepEqual(reasons.sort(), ['half-close-timeout', 'idle-timeout']);

    const listen2 = await closedPort();
    const aged = await startProxy(t, {
      upstreams: [{ name: 'r', targets: [target] }],
      listeners: [{ host: '127.0.0.1', port: listen2 }],
      routes: [{ name: 'r', action: { type: 'forward', upstream: 'r' } }],
      timeouts: { idleMs: 0, lifetimeMs: 300 },
    });
    const old = await dialProxy(listen2);
    await closed(old);
    await aged.idle();
    assert.equal((await aged.log.waitFor((l) => l.msg === 'connection closed')).reason, 'max-lifetime');
  });

  test('hot reload under load: new connections take the new routes, established ones are untouched; a bad file keeps the old config', async (t) => {
    const a = await tcpServer(t, echo);
    const b = await tcpServer(t, (socket) => socket.on('data', () => socket.write('b')));
    const listen = await closedPort();
    const config = (target: number) => ({
      upstreams: [{ name: 'r', targets: [`127.0.0.1:${target}`] }],
      listeners: [{ host: '127.0.0.1', port: listen }],
      routes: [{ name: 'r', action: { type: 'forward' as const, upstream: 'r' } }],
    });
    const proxy = await startProxy(t, config(a.port));
    const streams = await Promise.all(Array.from({ length: 20 }, () => dialProxy(listen)));
    for (const socket of streams) assert.equal(await roundTrip(socket, 'a'), 'a');
    // Load keeps flowing on the established connections while the file changes.
    let echoed = 0;
    let running = true;
    const pumps = streams.map(async (socket) => {
      while (running) {
        assert.equal(await roundTrip(socket, 'x'), 'x');
        echoed++;
      }
    });
    const mark = proxy.log.mark;
    proxy.rewrite(config(b.port));
    await proxy.log.waitFor((l) => l.msg === 'config reloaded', mark);
    const fresh = await dialProxy(listen);
    assert.equal(await roundTrip(fresh, 'x'), 'b', 'a new connection goes to the new target');
    running = false;
    await Promise.all(pumps);
    assert.ok(echoed >= streams.length, `${echoed} echoes while the config changed`);
    for (const socket of streams) assert.equal(await roundTrip(socket, 'y'), 'y', 'established connections still reach the old target');

    const bad = proxy.log.mark;
    // An invalid file: refused, logged with the field, and the running config stays.
    const { writeFileSync } = await import('node:fs');
    writeFileSync(proxy.configFile, 'listeners: [{ port: 99999 }]\nroutes: []\n');
    const refused = await proxy.log.waitFor((l) => l.msg === 'config reload refused; the running config stays', bad);
    assert.match(String(refused.error), /listeners\[0\]\.port/);
    const still = await dialProxy(listen);
    assert.equal(await roundTrip(still, 'x'), 'b');
    // SIGHUP reloads too.
    proxy.rewrite(config(a.port));
    const hup = proxy.log.mark;
    await proxy.log.waitFor((l) => l.msg === 'config reloaded', hup);
    proxy.child.kill('SIGHUP');
    await proxy.log.waitFor((l) => l.msg === 'config reloaded' && l.why === 'SIGHUP', hup);
    assert.equal(await roundTrip(await dialProxy(listen), 'z'), 'z');
    for (const socket of [...streams, fresh, still]) socket.destroy();
    assert.match((await proxy.admin('/metrics')).text, /holdfast_proxy_config_reloads_total\{result="invalid"\} 1/);
  });

  test('SIGTERM: stops accepting, lets open connections finish, exits 0; past the drain deadline the rest are ended', async (t) => {
    const backend = await tcpServer(t, echo);
    const listen = await closedPort();
    const proxy = await startProxy(t, {
      upstreams: [{ name: 'r', targets: [`127.0.0.1:${backend.port}`] }],
      listeners: [{ host: '127.0.0.1', port: listen }],
      routes: [{ name: 'r', action: { type: 'forward', upstream: 'r' } }],
      shutdown: { drainMs: 60_000 },
    });
    const open = await dialProxy(listen);
    assert.equal(await roundTrip(open, 'a'), 'a');
    const mark = proxy.log.mark;
    proxy.child.kill('SIGTERM');
    await proxy.log.waitFor((l) => l.msg === 'listener closed', mark);
    const refused = connect({ host: '127.0.0.1', port: listen });
    const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED', 'no new connections');
    assert.equal(await roundTrip(open, 'still here'), 'still here', 'the open one still works');
    const exit = once(proxy.child, 'exit');
    open.end();
    assert.deepEqual((await exit)[0], 0);
    assert.equal(proxy.log.lines.find((l) => l.msg === 'stopped')?.drained, true);

    const listen2 = await closedPort();
    const short = await startProxy(t, {
      upstreams: [{ name: 'r', targets: [`127.0.0.1:${backend.port}`] }],
      listeners: [{ host: '127.0.0.1', port: listen2 }],
      routes: [{ name: 'r', action: { type: 'forward', upstream: 'r' } }],
      shutdown: { drainMs: 200 },
    });
    const held = await dialProxy(listen2);
    assert.equal(await roundTrip(held, 'a'), 'a');
    const heldClosed = closed(held);
    assert.equal(await short.stop('SIGINT'), 0);
    await heldClosed;
    const stopped = short.log.lines.find((l) => l.msg === 'stopped');
    assert.deepEqual([stopped?.drained, stopped?.destroyed], [false, 1]);
    assert.equal(short.log.lines.find((l) => l.msg === 'connection closed')?.reason, 'shutdown');
  });

  test('admin API: bearer token, health, metrics, connections, config without secrets', async (t) => {
    const backend = await tcpServer(t, echo);
    const listen = await closedPort();
    const token = 'tok-0123456789abcdef';
    const proxy = await startProxy(t, {
      upstreams: [{ name: 'r', targets: [`127.0.0.1:${backend.port}`] }],
      listeners: [{ name: 'main', host: '127.0.0.1', port: listen }],
      routes: [{ name: 'r', action: { type: 'forward', upstream: 'r' } }],
      admin: { host: '127.0.0.1', port: 0, tokenEnv: 'TEST_ADMIN_TOKEN' },
    }, { TEST_ADMIN_TOKEN: token });
    const auth = { authorization: `Bearer ${token}` };
    assert.equal((await proxy.admin('/healthz')).status, 200, 'health needs no token');
    assert.equal((await proxy.admin('/metrics')).status, 401);
    assert.equal((await proxy.admin('/metrics', { authorization: 'Bearer wrong-token-wrong-token' })).status, 401);
    const socket = await dialProxy(listen);
    assert.equal(await roundTrip(socket, 'hello'), 'hello');
    const list = JSON.parse((await proxy.admin('/connections', auth)).text) as { active: number; connections: { state: string; route: string; bytesIn: number; bytesOut: number; ageMs: number }[] };
    assert.equal(list.active, 1);
    assert.deepEqual({ ...list.connections[0], ageMs: 0 }, { ...list.connections[0], ageMs: 0, state: 'established', route: 'r', bytesIn: 5, bytesOut: 5 });
    const metrics = (await proxy.admin('/metrics', auth)).text;
    for (const name of ['connections_active', 'connections_opened_total', 'connections_closed_total', 'bytes_total', 'limit_refusals_total', 'backend_connect_failures_total', 'config_reloads_total']) {
      assert.match(metrics, new RegExp(`^# TYPE holdfast_proxy_${name} `, 'm'), name);
    }
    assert.match(metrics, /holdfast_proxy_connections_active\{state="established",route="r"\} 1/);
    assert.match(metrics, /holdfast_proxy_bytes_total\{route="r",direction="client_to_backend"\} 5/);
    const config = (await proxy.admin('/config', auth)).text;
    assert.match(config, /"tokenEnv":"TEST_ADMIN_TOKEN"/);
    assert.doesNotMatch(config, new RegExp(token));
    socket.destroy();
    await proxy.log.waitFor((l) => l.msg === 'connection closed' && l.active === 0);
  });
});
