/**
 * Regression (a CI flake of servicenow-lock.test.ts, issue 17's "Redis killed mid-page" case:
 * 19 incidents missing after the first complete cycle once Redis came back). ioredis keeps the
 * commands that were sent but not answered when the connection drops, and sends them again once
 * it reconnects (`autoResendUnfulfilledCommands`). A Redis restarted empty then received a page
 * of a pass that had already failed: its records and its table state, cursor and all, so the
 * next cycle went on from that cursor and never fetched the pages before it. And the failed
 * pass itself went on, its awaited command answered late, without the lock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RedisStore } from '../src/servicenow/redis-store.js';
import type { SnRecord } from '../src/servicenow/table-client.js';
import { DEFAULT_WAITING } from '../src/servicenow/waiting.js';
import { privateRedisOrSkip } from '../../../test/support/redis.js';

test('regression: a store write sent as Redis died is not sent again to the Redis that comes back empty; it fails', { timeout: 30_000 }, async (t) => {
  const redis = await privateRedisOrSkip(t);
  if (redis === undefined) return;
  const prefix = 'holdfast-test:resend:';
  const store = new RedisStore(redis.url, DEFAULT_WAITING, prefix);
  t.after(() => store.close());
  await store.ready();
  const record = { sys_id: 'a'.repeat(32), number: 'INC0000001', sys_updated_on: '2026-12-04 10:00:00', sys_mod_count: '1' } as SnRecord;
  const state = { mode: 'full' as const, cursor: { ts: '2026-12-04 10:00:00', id: 'a'.repeat(32) } };

  redis.pause(); // the write reaches Redis's socket, and no answer comes
  const outcome = store.apply('incident', [record], [], state).then(() => 'applied', (err: Error) => `failed: ${err.message}`);
  await redis.kill();
  await redis.restart(); // empty
  assert.match(await outcome, /^failed/, 'the write that was never answered fails; it is not applied to the new Redis');
  await store.ready();
  const check = new RedisStore(redis.url, DEFAULT_WAITING, prefix);
  t.after(() => check.close());
  await check.ready();
  assert.equal(await check.state('incident'), undefined, 'no table state (no cursor) in the new Redis');
  assert.deepEqual(await check.records('incident'), []);
});
