import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { once } from 'node:events';
import { stringify } from 'yaml';
import test from 'node:test';
import { request } from 'undici';
import type { ProxyConfigInput } from '../src/proxy/config/config.js';
import { createDispatcher } from 'holdfast';
import { closed, dialProxy, httpGet as get, keptAlive, startProxy } from '../../../test/support/proxy-harness.js';

/** `workers: 2` behind one listener, answering `body` on every request. */
function config(body: string, extra: Partial<ProxyConfigInput> = {}): ProxyConfigInput {
  return {
    workers: 2,
    listeners: [{ name: 'web', host: '127.0.0.1', port: 0 }],
    routes: [{ name: 'web', action: { type: 'http', routes: [{ name: 'fixed', action: { type: 'respond', status: 200, body } }] } }],
    ...extra,
  };
}

interface WorkerInfo { id: number; pid: number; generation: number; state: string }
interface Connections { active: number; workers: { id: number; pid: number; active: number }[] }

test('two workers share one port and both serve; /metrics sums every worker; /workers lists them', async (t) => {
  const proxy = await startProxy(t, config('hi'));
  const port = proxy.ports.web!;
  const workers = JSON.parse((await proxy.admin('/workers')).text) as WorkerInfo[];
  assert.equal(workers.length, 2);
  assert.ok(workers.every((w) => w.state === 'ready' && w.generation === 1 && w.pid !== proxy.child.pid));
  const agents = await Promise.all(Array.from({ length: 6 }, () => keptAlive(port)));
  t.after(() => { for (const agent of agents) agent.destroy(); });
  const connections = JSON.parse((await proxy.admin('/connections')).text) as Connections;
  assert.equal(connections.active, 6);
  assert.equal(connections.workers.length, 2);
  // Handed out in turn by the supervisor: each worker holds some of them.
  assert.ok(connections.workers.every((w) => w.active > 0), JSON.stringify(connections.workers.map((w) => w.active)));
  const metrics = (await proxy.admin('/metrics')).text;
  const opened = metrics.split('\n').filter((line) => line.startsWith('holdfast_proxy_connections_opened_total')).map((line) => Number(line.split(' ').at(-1)));
  assert.deepEqual(opened, [6], metrics.split('\n').filter((l) => l.includes('opened')).join('\n'));
  for (const agent of agents) agent.destroy();
  assert.equal(await proxy.stop(), 0);
});

test('workerBalance reusePort: each worker binds the port itself, and the kernel spreads connections over both', async (t) => {
  const proxy = await startProxy(t, config('hi', { workerBalance: 'reusePort' }));
  const port = proxy.ports.web!;
  const agents = await Promise.all(Array.from({ length: 16 }, () => keptAlive(port)));
  const connections = JSON.parse((await proxy.admin('/connections')).text) as Connections;
  for (const agent of agents) agent.destroy();
  assert.equal(connections.active, 16);
  // By a hash of each connection's addresses: all 16 on one worker has a chance of 1 in 32,768.
  assert.ok(connections.workers.every((w) => w.active > 0), JSON.stringify(connections.workers.map((w) => w.active)));
  assert.equal(await proxy.stop(), 0);
});

test('a killed worker is restarted, and the other worker\'s connections go on', async (t) => {
  const proxy = await startProxy(t, config('hi'));
  const port = proxy.ports.web!;
  const agents = await Promise.all(Array.from({ length: 4 }, () => keptAlive(port)));
  t.after(() => { for (const agent of agents) agent.destroy(); });
  const before = JSON.parse((await proxy.admin('/connections')).text) as Connections;
  const [victim, survivor] = before.workers;
  assert.ok(victim !== undefined && survivor !== undefined && victim.active > 0 && survivor.active > 0);
  const mark = proxy.log.mark;
  process.kill(victim.pid, 'SIGKILL');
  const restarted = await proxy.log.waitFor((l) => l.msg === 'worker restarted', mark);
  assert.notEqual(restarted.pid, victim.pid);
  // Every connection asks again: the survivor's answer on theirs, the victim's are gone.
  const answers = await Promise.allSettled(agents.map((agent) => get(port, agent)));
  const served = answers.filter((a) => a.status === 'fulfilled').length;
  assert.ok(served >= survivor.active, `${served} of ${agents.length} answered; the surviving worker held ${survivor.active}`);
  const workers = JSON.parse((await proxy.admin('/workers')).text) as WorkerInfo[];
  assert.equal(workers.length, 2);
  assert.ok(workers.every((w) => w.pid !== victim.pid && w.state === 'ready'));
  for (const agent of agents) agent.destroy();
  assert.equal(await proxy.stop(), 0);
});

test('a worker started again after a crash serves the config its generation validated, even once the file is broken', async (t) => {
  const proxy = await startProxy(t, config('hi'));
  const port = proxy.ports.web!;
  const mark = proxy.log.mark;
  writeFileSync(proxy.configFile, 'listeners: [nope\n'); // not even YAML
  await proxy.log.waitFor((l) => l.msg === 'reload refused: the config is not valid; the running workers go on', mark);
  const [victim] = JSON.parse((await proxy.admin('/workers')).text) as WorkerInfo[];
  process.kill(victim!.pid, 'SIGKILL');
  await proxy.log.waitFor((l) => l.msg === 'worker restarted', mark);
  const agents = await Promise.all(Array.from({ length: 4 }, () => keptAlive(port)));
  t.after(() => { for (const agent of agents) agent.destroy(); });
  assert.deepEqual(await Promise.all(agents.map((agent) => get(port, agent))), ['hi', 'hi', 'hi', 'hi']);
  const workers = JSON.parse((await proxy.admin('/workers')).text) as WorkerInfo[];
  assert.deepEqual(workers.map((w) => w.state), ['ready', 'ready']);
  for (const agent of agents) agent.destroy();
  assert.equal(await proxy.stop(), 0);
});

test('regression: a worker that crashes while a reload\'s new workers start is restarted when that reload fails', async (t) => {
  const proxy = await startProxy(t, config('hi'));
  const taken = createServer().listen(0, '127.0.0.1');
  await once(taken, 'listening');
  t.after(() => { taken.close(); });
  const mark = proxy.log.mark;
  // A port another process holds: the new generation cannot listen, and the reload is refused.
  writeFileSync(proxy.configFile, stringify({ admin: { host: '127.0.0.1', port: 0 }, ...config('hi', { listeners: [{ name: 'web', host: '127.0.0.1', port: (taken.address() as { port: number }).port }] }) }));
  await proxy.log.waitFor((l) => l.msg === 'starting workers' && l.generation === 2, mark);
  const [victim] = (JSON.parse((await proxy.admin('/workers')).text) as WorkerInfo[]).filter((w) => w.generation === 1);
  process.kill(victim!.pid, 'SIGKILL');
  await proxy.log.waitFor((l) => l.msg === 'reload refused: a new worker did not start; the running workers go on', mark);
  await proxy.log.waitFor((l) => l.msg === 'worker restarted', mark);
  const workers = JSON.parse((await proxy.admin('/workers')).text) as WorkerInfo[];
  assert.deepEqual(workers.map((w) => [w.generation, w.state]), [[1, 'ready'], [1, 'ready']]);
  assert.equal(await get(proxy.ports.web!, new (await import('node:http')).Agent()), 'hi');
  assert.equal(await proxy.stop(), 0);
});

test('a reload under load drops no request: a new generation listens, then the old one drains', async (t) => {
  const proxy = await startProxy(t, config('one'));
  const port = proxy.ports.web!;
  const dispatcher = createDispatcher({ connections: 4, deadlineMs: 10_000 });
  t.after(() => dispatcher.close());
  let stop = false;
  const failed: string[] = [];
  const bodies = new Set<string>();
  const load = Array.from({ length: 4 }, async () => {
    while (!stop) {
      try {
        const res = await request(`http://127.0.0.1:${port}/`, { dispatcher });
        bodies.add(await res.body.text());
      } catch (err) {
        failed.push(`${(err as { code?: string }).code}: ${(err as Error).message}`);
      }
    }
  });
  const mark = proxy.log.mark;
  proxy.rewrite(config('two'));
  await proxy.log.waitFor((l) => l.msg === 'reloaded: new workers listening, the old ones draining', mark);
  // Both of generation 1 drained and exited while the load went on.
  await proxy.log.waitFor((l) => l.msg === 'worker exited' && l.generation === 1 && proxy.log.lines.slice(mark).filter((x) => x.msg === 'worker exited').length >= 2, mark);
  const after = bodies.size;
  stop = true;
  await Promise.all(load);
  assert.deepEqual(failed, []);
  assert.ok(bodies.has('one') && bodies.has('two'), [...bodies].join(','));
  assert.ok(after >= 1);
  const workers = JSON.parse((await proxy.admin('/workers')).text) as WorkerInfo[];
  assert.deepEqual(workers.map((w) => w.generation), [2, 2]);
  assert.equal(await proxy.stop(), 0);
});

test('per-IP limits hold across workers: the supervisor counts every worker\'s connections, exactly', async (t) => {
  const proxy = await startProxy(t, config('hi', { limits: { perIp: 4 } }));
  const port = proxy.ports.web!;
  const mark = proxy.log.mark;
  const sockets = await Promise.all(Array.from({ length: 8 }, () => dialProxy(port)));
  t.after(() => { for (const socket of sockets) socket.destroy(); });
  // 4 of the 8 are refused, whichever worker each reached.
  await proxy.log.waitFor(() => proxy.log.lines.slice(mark).filter((l) => l.msg === 'connection refused by a limit' && l.limit === 'per-ip').length >= 4, mark);
  // Each worker alone would hold 4 (8 in all): held over both, 4, on whichever worker asked first.
  const connections = JSON.parse((await proxy.admin('/connections')).text) as Connections;
  assert.equal(connections.active, 4, JSON.stringify(connections.workers.map((w) => w.active)));
  for (const socket of sockets) socket.destroy();
  assert.equal(await proxy.stop(), 0);
});

test('a crashed worker\'s connections no longer count against the limits: its address may connect again', async (t) => {
  const proxy = await startProxy(t, config('hi', { limits: { perIp: 2 } }));
  const port = proxy.ports.web!;
  const agents = await Promise.all(Array.from({ length: 2 }, () => keptAlive(port)));
  t.after(() => { for (const agent of agents) agent.destroy(); });
  const mark = proxy.log.mark;
  const third = await dialProxy(port);
  await closed(third); // refused: the limit is 2 over both workers
  await proxy.log.waitFor((l) => l.msg === 'connection refused by a limit' && l.limit === 'per-ip', mark);
  const before = JSON.parse((await proxy.admin('/connections')).text) as Connections;
  const victim = before.workers.find((w) => w.active > 0)!;
  process.kill(victim.pid, 'SIGKILL');
  await proxy.log.waitFor((l) => l.msg === 'worker restarted', mark);
  // What the killed worker held was given back: as many new connections are taken.
  const again = await Promise.all(Array.from({ length: victim.active }, () => keptAlive(port)));
  t.after(() => { for (const agent of again) agent.destroy(); });
  const after = JSON.parse((await proxy.admin('/connections')).text) as Connections;
  assert.equal(after.active, 2);
  for (const agent of [...agents, ...again]) agent.destroy();
  assert.equal(await proxy.stop(), 0);
});

test('workers: a config with ACME certificates on a file store is refused, naming acme.store', async () => {
  const { parseConfig } = await import('../src/proxy/config/config-loader.js');
  assert.throws(() => parseConfig({
    workers: 2,
    listeners: [{ port: 443 }],
    routes: [{ name: 'tls', action: { type: 'terminate', routes: [{ name: 'app', action: { type: 'respond', status: 200 } }] } }],
    certificates: [{ acme: { domains: ['example.test'], contact: 'ops@example.test', challenge: 'tls-alpn-01' } }],
  }), /acme\.store/);
});
