import assert from 'node:assert/strict';
import test from 'node:test';
import { Redis } from 'ioredis';
import type { ProxyConfigInput } from '../src/proxy/config/config.js';
import { closed, dialProxy, keptAlive, startProxy } from '../../../test/support/proxy-harness.js';
import { privateRedisOrSkip, redisOrSkip, uniquePrefix } from '../../../test/support/redis.js';

/** One instance of several sharing `limits.redis` (perIp 4), answering every request. */
function config(url: string, keyPrefix: string): ProxyConfigInput {
  return {
    listeners: [{ name: 'web', host: '127.0.0.1', port: 0 }],
    routes: [{ name: 'web', action: { type: 'http', routes: [{ name: 'ok', action: { type: 'respond', status: 200, body: 'ok' } }] } }],
    limits: { perIp: 4, redis: { url, keyPrefix } },
  };
}

/** A connection the proxy refuses: it is closed before any answer. */
async function refusedBy(port: number): Promise<void> {
  await closed(await dialProxy(port));
}

test('two instances sharing limits.redis hold perIp over both: the second refuses what the first holds, and takes it once freed', async (t) => {
  const url = await redisOrSkip(t);
  if (url === undefined) return;
  const prefix = `${uniquePrefix('limits')}:`;
  const a = await startProxy(t, config(url, prefix));
  const b = await startProxy(t, config(url, prefix));
  const held = await Promise.all(Array.from({ length: 4 }, () => keptAlive(a.ports.web!)));
  t.after(() => { for (const agent of held) agent.destroy(); });
  const markB = b.log.mark;
  await refusedBy(b.ports.web!); // the address holds 4 on the other instance
  await b.log.waitFor((l) => l.msg === 'connection refused by a limit' && l.limit === 'per-ip', markB);
  // Two of the first instance's connections close (their counts go back as they close): the second takes two.
  const markA = a.log.mark;
  held[0]!.destroy();
  held[1]!.destroy();
  await a.log.waitFor((l) => l.msg === 'connection closed' && l.active === 2, markA);
  const again = await Promise.all(Array.from({ length: 2 }, () => keptAlive(b.ports.web!)));
  t.after(() => { for (const agent of again) agent.destroy(); });
  assert.equal(await b.active(), 2);
  await refusedBy(b.ports.web!); // and no more: 2 + 2
  for (const agent of [...held, ...again]) agent.destroy();
  await Promise.all([a.idle(), b.idle()]);
  assert.equal(await a.stop(), 0);
  assert.equal(await b.stop(), 0);
});

test('an instance that died stops counting once its alive key is gone (as its TTL ends it)', async (t) => {
  const url = await redisOrSkip(t);
  if (url === undefined) return;
  const prefix = `${uniquePrefix('limits-dead')}:`;
  const a = await startProxy(t, config(url, prefix));
  const instance = String((await a.log.waitFor((l) => l.msg === 'limits shared through Redis')).instance);
  const held = await Promise.all(Array.from({ length: 4 }, () => keptAlive(a.ports.web!)));
  t.after(() => { for (const agent of held) agent.destroy(); });
  await a.stop('SIGKILL'); // no release, no goodbye: its counts stay in Redis
  const b = await startProxy(t, config(url, prefix));
  await refusedBy(b.ports.web!); // taken for alive until its key expires
  const redis = new Redis(url);
  t.after(() => redis.disconnect());
  assert.equal(await redis.del(`${prefix}alive:${instance}`), 1);
  const again = await Promise.all(Array.from({ length: 4 }, () => keptAlive(b.ports.web!)));
  t.after(() => { for (const agent of again) agent.destroy(); });
  assert.equal(await b.active(), 4);
  for (const agent of again) agent.destroy();
  await b.idle();
  assert.equal(await b.stop(), 0);
});

test('while Redis does not answer, an instance goes on serving on its own limits (fail open), says so once, and counts in Redis again when it is back', async (t) => {
  const redis = await privateRedisOrSkip(t);
  if (redis === undefined) return;
  const a = await startProxy(t, config(redis.url, 'limits-down:'));
  await a.log.waitFor((l) => l.msg === 'shared limits: connected to Redis');
  const mark = a.log.mark;
  await redis.kill();
  // New connections are still served: each asks Redis, which fails, and is let through.
  const during = await Promise.all(Array.from({ length: 4 }, () => keptAlive(a.ports.web!)));
  t.after(() => { for (const agent of during) agent.destroy(); });
  await a.log.waitFor((l) => l.msg === 'shared limits: Redis does not answer; each instance holds its own limits until it does', mark);
  assert.equal(a.log.lines.slice(mark).filter((l) => typeof l.msg === 'string' && l.msg.startsWith('shared limits: Redis does not answer')).length, 1);
  await refusedBy(a.ports.web!); // the local limit still holds: perIp 4
  const closing = a.log.mark;
  during.pop()!.destroy();
  await a.log.waitFor((l) => l.msg === 'connection closed' && l.active === 3, closing);
  await redis.restart();
  await a.log.waitFor((l) => l.msg === 'shared limits: Redis answers again', mark);
  const back = await keptAlive(a.ports.web!); // counted in Redis again
  t.after(() => back.destroy());
  const client = new Redis(redis.url);
  t.after(() => client.disconnect());
  const count = () => client.hgetall('limits-down:count:per-ip:127.0.0.1').then((fields) => Object.values(fields));
  assert.deepEqual(await count(), ['1']);
  // The connections let through uncounted give nothing back as they close: the counted one stays counted.
  const closingRest = a.log.mark;
  for (const agent of during) agent.destroy();
  await a.log.waitFor((l) => l.msg === 'connection closed' && l.active === 1, closingRest);
  assert.deepEqual(await count(), ['1']);
  back.destroy();
  await a.idle();
  assert.deepEqual(await count(), []);
  assert.equal(await a.stop(), 0);
});
