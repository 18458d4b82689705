/**
 * Prints the /metrics text of a dispatcher that has seen a bit of everything:
 * a stale socket, 503s, a circuit breaker trip, a queue and a rate limit.
 *   node --import tsx examples/metrics-demo.ts
 */
import { request } from 'undici';
import { createDispatcher, FlakyServer } from 'holdfast';

export async function metricsDemo(): Promise<string> {
  const stale = await FlakyServer.start({ idleCloseMs: 60_000, raceWindowMs: 60_000 });
  const failing = await FlakyServer.start({ status: { code: 503, count: 1000 } });
  const dispatcher = createDispatcher({
    connections: 1,
    metrics: true,
    breaker: { consecutiveFailures: 2 },
    limit: { maxConcurrent: 1, maxQueue: 10 },
    rateLimit: { requestsPerSecond: 1000, burst: 2 },
    retry: { maxAttempts: 2, baseDelayMs: 1 },
  });
  try {
    for (let i = 0; i < 3; i++) await (await request(stale.url, { dispatcher })).body.dump(); // the 2nd and 3rd are replayed
    await Promise.all([1, 2, 3].map(async () => (await request(stale.url, { dispatcher, method: 'PUT' })).body.dump()));
    for (let i = 0; i < 3; i++) {
      await request(failing.url, { dispatcher }).then((r) => r.body.dump(), () => {});
    }
    return await dispatcher.metricsRegistry!.metrics();
  } finally {
    await dispatcher.close();
    await stale.close();
    await failing.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(await metricsDemo());
