import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { metricsDemo } from '../../../examples/metrics-demo.js';
import { dispatcherFor, flakyServer } from '../../../test/support/helpers.js';

const METRICS = [
  'holdfast_client_requests_total', 'holdfast_client_attempts_total', 'holdfast_client_retries_total',
  'holdfast_client_stale_socket_replays_total', 'holdfast_client_breaker_state', 'holdfast_client_breaker_transitions_total',
  'holdfast_client_queue_depth', 'holdfast_client_queue_wait_seconds', 'holdfast_client_rate_limit_denied_total',
  'holdfast_client_request_duration_seconds', 'holdfast_client_pool_sockets', 'holdfast_client_sockets_retired_total',
  'holdfast_client_idle_limit_seconds',
];

test('the metrics demo lists every holdfast_client_* metric, with values from what happened', async () => {
  const text = await metricsDemo();
  for (const name of METRICS) assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  assert.match(text, /^holdfast_client_stale_socket_replays_total\{origin="[^"]+"\} [1-9]/m);
  assert.match(text, /^holdfast_client_breaker_transitions_total\{origin="[^"]+",from="closed",to="open"\} 1$/m);
  assert.match(text, /^holdfast_client_breaker_state\{origin="[^"]+",state="open"\} 1$/m);
  assert.match(text, /^holdfast_client_requests_total\{origin="[^"]+",method="GET",outcome="error",code="HF_ERR_CIRCUIT_OPEN"\} 2$/m, "the 2nd and 3rd request: the 1st one's retry tripped it");
  assert.match(text, /^holdfast_client_retries_total\{origin="[^"]+",reason="status 503"\} [1-9]/m);
  assert.match(text, /^holdfast_client_queue_wait_seconds_count\{origin="[^"]+"\} [1-9]/m, 'requests waited in the queue');
});

test('metrics can go to a registry of yours, and pool gauges follow the sockets', async (t) => {
  const server = await flakyServer(t, {});
  const registry = new Registry();
  const dispatcher = dispatcherFor(t, { metrics: { registry } });
  await (await request(server.url, { dispatcher })).body.dump();
  const text = await registry.metrics();
  assert.match(text, /^holdfast_client_pool_sockets\{origin="[^"]+",state="open"\} 1$/m);
  assert.match(text, /^holdfast_client_pool_sockets\{origin="[^"]+",state="idle"\} 1$/m);
  assert.match(text, /^holdfast_client_idle_limit_seconds\{origin="[^"]+"\} 4$/m);
  assert.equal(dispatcher.metricsRegistry, registry);
});

test('slow requests are logged as warnings, without headers or query strings', async (t) => {
  const server = await flakyServer(t, { slowMs: 100 });
  const lines: string[] = [];
  const sink = new Writable({ write(chunk: Buffer, _e, done) { lines.push(chunk.toString()); done(); } });
  const dispatcher = dispatcherFor(t, { logger: pino(sink), slowRequestMs: 50 });
  const res = await request(`${server.url}/orders?api_key=hunter2`, { dispatcher, headers: { authorization: 'Bearer s3cret' } });
  await res.body.dump();
  const entry = JSON.parse(lines.find((l) => l.includes('slow request')) ?? '{}') as Record<string, unknown>;
  assert.equal(entry.msg, 'slow request');
  assert.equal(entry.level, 40, 'a warning');
  assert.equal(entry.path, '/orders');
  assert.equal(entry.code, '200');
  const all = lines.join('\n');
  assert.ok(!all.includes('s3cret') && !all.includes('hunter2'), 'no secret reaches the log');
});

test('metrics and logger options are validated', (t) => {
  assert.throws(() => dispatcherFor(t, { metrics: { registry: {} as Registry } }), { option: 'metrics' });
  assert.throws(() => dispatcherFor(t, { logger: 'console' as never }), { option: 'logger' });
});
