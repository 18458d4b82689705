import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { createAgent } from '../src/client/create-agent.js';
import { FakeClock } from '../../../test/support/fake-clock.js';
import { flakyServer } from '../../../test/support/helpers.js';

/** One GET through `agent`; resolves when the body is read, with the socket it used. */
function get(url: string, agent: http.Agent, method = 'GET'): Promise<{ status: number; socket: Socket; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { agent, method }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, socket: req.socket as Socket, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('createAgent retires a free socket before the server closes it, following the hint', async (t) => {
  const server = await flakyServer(t, { idleCloseMs: 1000, advertise: true });
  const agent = createAgent();
  t.after(() => agent.destroy());
  const started = performance.now();
  const { status, socket } = await get(server.url, agent);
  assert.equal(status, 200);
  assert.equal(agent.idleLimitMs(`127.0.0.1:${server.port}`), 750);
  await once(socket, 'close');
  const closedAfter = performance.now() - started;
  assert.ok(closedAfter >= 700 && closedAfter < 950, `closed by the agent after ${Math.round(closedAfter)} ms, before the server's 1000`);
  assert.equal(server.stats().dropped, 0);
});

test('createAgent learns an unadvertised idle close from two separate closes and lowers the limit below it', async (t) => {
  const clock = new FakeClock();
  const server = await flakyServer(t, { idleCloseMs: 150, clock });
  const agent = createAgent({}, clock);
  t.after(() => agent.destroy());
  const key = `127.0.0.1:${server.port}`;
  for (const round of [1, 2]) {
    const { socket } = await get(server.url, agent);
    assert.equal(agent.idleLimitMs(key), 4000, `the safe default, before enough is known (round ${round})`);
    clock.advance(150);
    await once(socket, 'close');
    clock.advance(2000); // the next close is its own observation
  }
  assert.equal(agent.idleLimitMs(key), 112, 'below the server\'s 150');
});

// Node 22+ destroys a free socket on any read, EOF included, before 'end' or an error: the
// learning must not wait for those (it never learned on 22, 24 and 26), nor take the agent's
// own closes for the server's.
test('createAgent learns nothing from its own closes: the idle timeout and agent.destroy()', async (t) => {
  const server = await flakyServer(t, {});
  const agent = createAgent({ keepAlive: { defaultIdleMs: 100 } });
  t.after(() => agent.destroy());
  const key = `127.0.0.1:${server.port}`;
  const first = await get(server.url, agent);
  await once(first.socket, 'close'); // retired by the agent at 100 ms
  assert.equal(agent.idleLimitMs(key), 100, 'its own idle timeout taught nothing');
  const second = await get(server.url, agent);
  assert.equal(second.reused, false);
  agent.destroy();
  await once(second.socket, 'close');
  assert.equal(agent.idleLimitMs(key), 100, 'agent.destroy() taught nothing');
  assert.equal(server.stats().dropped, 0);
});

test('createAgent reuses free sockets FIFO within its pool limits', async (t) => {
  const server = await flakyServer(t, {});
  const agent = createAgent({ maxSockets: 2 });
  t.after(() => agent.destroy());
  assert.equal((agent as http.Agent & { scheduling?: string }).scheduling ?? (agent as unknown as { options: { scheduling: string } }).options.scheduling, 'fifo');
  const results = await Promise.all([1, 2, 3, 4].map(() => get(server.url, agent)));
  assert.ok(results.every((r) => r.status === 200));
  assert.ok(server.stats().connections <= 2, 'never more than maxSockets connections');
  const again = await get(server.url, agent);
  assert.equal(again.reused, true);
});

test('createAgent validates its options, naming the option', () => {
  assert.throws(() => createAgent({ maxSockets: 0 }), { code: 'HF_ERR_INVALID_OPTION', option: 'maxSockets' });
  assert.throws(() => createAgent({ keepAlive: { marginRatio: 3 } }), { option: 'keepAlive.marginRatio' });
});
