import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { closedPort, dispatcherFor, flakyServer } from '../../../test/support/helpers.js';
import { redisOrSkip, uniquePrefix } from '../../../test/support/redis.js';

const WORKER = fileURLToPath(new URL('../../../test/support/fixtures/shared-limit-worker.ts', import.meta.url));

test('two OS processes sharing 50 requests/s through Redis for 10 s send at most 5% over 500', async (t) => {
  const redisUrl = await redisOrSkip(t);
  if (redisUrl === undefined) return;
  const server = await flakyServer(t, {});
  const prefix = uniquePrefix('shared-limit');
  const workers: ChildProcess[] = [0, 1].map(() => fork(WORKER, [server.url, redisUrl, prefix, '50'], { execArgv: ['--conditions=holdfast-source', '--import', 'tsx'] }));
  t.after(() => { for (const w of workers) if (w.exitCode === null) w.kill(); });
  await Promise.all(workers.map((w) => once(w, 'message')));
  const reports = workers.map((w) => once(w, 'message') as Promise<[{ sent: number; refused: number }]>);
  const endAt = Date.now() + 10_000;
  for (const w of workers) w.send({ endAt });
  const results = (await Promise.all(reports)).map(([r]) => r);
  const received = server.stats().received;
  assert.ok(received <= 525, `the upstream counted ${received} requests`);
  assert.ok(received >= 400, `the budget was used (${received})`);
  assert.ok(results.every((r) => r.sent > 100), `both processes got a share: ${JSON.stringify(results)}`);
});

// rate-limiter-flexible keeps its own (real) time, so this test runs on the system clock.
test('without Redis the shared limit falls back to a local budget: requests are paced, not failed', async (t) => {
  const server = await flakyServer(t, {});
  const port = await closedPort();
  const dispatcher = dispatcherFor(t, { rateLimit: { requestsPerSecond: 2, maxWaitMs: 5000, redis: { url: `redis://127.0.0.1:${port}`, keyPrefix: uniquePrefix('down') } } });
  const started = performance.now();
  for (let i = 0; i < 3; i++) {
    const res = await request(server.url, { dispatcher });
    assert.equal(res.statusCode, 200);
    await res.body.dump();
  }
  assert.ok(performance.now() - started >= 500, 'the third request waited for the next one-second window');
  assert.equal(server.stats().received, 3);
});

test('rateLimit.redis options are validated', () => {
  assert.throws(() => dispatcherFor({ after: () => {} }, { rateLimit: { requestsPerSecond: 1, redis: { url: 'http://x' } } }), { option: 'rateLimit.redis.url' });
});
