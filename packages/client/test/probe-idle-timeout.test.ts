import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { probeIdleTimeout } from '../src/client/probe-idle-timeout.js';
import { safelyBelow } from '../src/policy/keep-alive.js';
import { closedPort, flakyServer } from '../../../test/support/helpers.js';
import { selfSignedCertificate } from '../../../test/support/tls-fixtures.js';

const within10Percent = (actual: number | undefined, expected: number) =>
  assert.ok(actual !== undefined && Math.abs(actual - expected) <= expected * 0.1, `${String(actual)} is not ${expected} ± 10%`);

describe('probeIdleTimeout', { concurrency: true }, () => {
  test('measures an unadvertised 3 s idle close to within 10%', async (t) => {
    const server = await flakyServer(t, { idleCloseMs: 3000 });
    const result = await probeIdleTimeout(server.url, { maxWaitMs: 10_000 });
    assert.equal(result.advertisedMs, undefined);
    within10Percent(result.observedIdleMs, 3000);
    assert.equal(result.recommendedIdleMs, safelyBelow(result.observedIdleMs!));
    assert.ok(result.durationMs < 5000, 'it stops once the server has closed every connection');
  });

  test('reports an advertised 3 s timeout and the observed close', async (t) => {
    const server = await flakyServer(t, { idleCloseMs: 3000, advertise: true });
    const result = await probeIdleTimeout(server.url, { maxWaitMs: 10_000 });
    assert.equal(result.advertisedMs, 3000);
    within10Percent(result.observedIdleMs, 3000);
    assert.equal(result.recommendedIdleMs, safelyBelow(Math.min(3000, result.observedIdleMs!)));
  });

  test('sees RST closes as such', async (t) => {
    const server = await flakyServer(t, { idleCloseMs: 300, closeWith: 'rst' });
    const result = await probeIdleTimeout(server.url, { connections: 2, maxWaitMs: 2000 });
    assert.deepEqual(result.samples.map((s) => s.outcome), ['rst', 'rst']);
  });

  test('detects a silent drop by re-using connections at staggered idle times', async (t) => {
    // Requests on connections idle 600 ms or more are dropped, and no FIN is ever sent while idle.
    const server = await flakyServer(t, { idleCloseMs: 60_000, raceWindowMs: 59_400 });
    const result = await probeIdleTimeout(server.url, { connections: 4, maxWaitMs: 1000 });
    assert.deepEqual(result.samples.map((s) => s.outcome), ['alive', 'alive', 'failed', 'failed']);
    // Whatever the timer slop: a re-use that worked was under 600 ms idle, one that failed was not.
    const samples = JSON.stringify(result.samples);
    assert.ok(result.keptAtLeastMs! >= 450 && result.keptAtLeastMs! < 600, samples);
    assert.ok(result.observedIdleMs! >= 600 && result.observedIdleMs! < 1500, samples);
  });

  test('works over https with a trusted CA', async (t) => {
    const tls = selfSignedCertificate();
    const server = await flakyServer(t, { idleCloseMs: 1000, advertise: true, tls });
    assert.match(server.url, /^https:/);
    const result = await probeIdleTimeout(server.url, { ca: tls.cert, connections: 2, maxWaitMs: 3000 });
    assert.equal(result.advertisedMs, 1000);
    within10Percent(result.observedIdleMs, 1000);
  });

  test('a TLS failure is a clear ProbeError', async (t) => {
    const server = await flakyServer(t, { tls: selfSignedCertificate() });
    await assert.rejects(probeIdleTimeout(server.url, { maxWaitMs: 1000 }), (err: Error & { code: string }) => {
      assert.equal(err.code, 'HF_ERR_PROBE');
      assert.match(err.message, /^TLS handshake with 127\.0\.0\.1:\d+ failed/);
      return true;
    });
  });

  test('refused and DNS failures are clear ProbeErrors', async () => {
    const port = await closedPort();
    await assert.rejects(probeIdleTimeout(`http://127.0.0.1:${port}/`), { code: 'HF_ERR_PROBE', message: `connection refused by 127.0.0.1:${port}` });
    await assert.rejects(probeIdleTimeout('http://no-such-host.invalid/'), { code: 'HF_ERR_PROBE', message: /^DNS lookup failed for no-such-host\.invalid/ });
  });

  test('bad input throws at once, naming the option', async () => {
    await assert.rejects(probeIdleTimeout('ftp://x/'), { code: 'HF_ERR_INVALID_OPTION', option: 'url' });
    await assert.rejects(probeIdleTimeout('not a url'), { option: 'url' });
    await assert.rejects(probeIdleTimeout('http://x/', { connections: 0 }), { option: 'connections' });
  });
});
