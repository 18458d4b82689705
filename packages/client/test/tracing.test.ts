/**
 * Issue 20, item 8: a retried request was several unrelated spans (undici's channels fire
 * once per attempt). With `tracing`, holdfast makes one CLIENT span per request, an event
 * per attempt, and sends `traceparent` on every attempt; the diagnostics channels
 * `holdfast:client:request-*` tell the same story without OpenTelemetry. Checked with the
 * in-memory exporter of @opentelemetry/sdk-trace-base.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { propagation, SpanStatusCode } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { request } from 'undici';
import { dispatcherFor } from '../../../test/support/helpers.js';

/** Answers 503 to the first request and 200 after; records each request's traceparent. */
async function flakyOnce(t: { after(fn: () => Promise<void>): void }): Promise<{ url: string; traceparents: Array<string | undefined> }> {
  const traceparents: Array<string | undefined> = [];
  const server = createServer((req, res) => {
    traceparents.push(req.headers.traceparent as string | undefined);
    res.writeHead(traceparents.length === 1 ? 503 : 200, { 'content-type': 'text/plain' });
    res.end('x');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => { server.closeAllConnections(); server.close(); await once(server, 'close'); });
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, traceparents };
}

test('one span covers a request retried after a 503, with an event per attempt and traceparent on each', async (t) => {
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  t.after(() => propagation.disable());
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const server = await flakyOnce(t);
  const dispatcher = dispatcherFor(t, { tracing: { tracerProvider }, retry: { baseDelayMs: 1, maxDelayMs: 1 } });
  const res = await request(`${server.url}/items?x=1`, { dispatcher });
  assert.equal(res.statusCode, 200);
  await res.body.dump();

  const spans = exporter.getFinishedSpans();
  assert.equal(spans.length, 1, 'one span for the request, not one per attempt');
  const [span] = spans;
  assert.equal(span!.name, 'GET');
  assert.equal(span!.attributes['http.response.status_code'], 200);
  assert.equal(span!.attributes['holdfast.attempts'], 2);
  assert.equal(span!.attributes['url.full'], `${server.url}/items?x=1`);
  assert.deepEqual(span!.events.map((e) => [e.name, e.attributes?.['holdfast.attempt'], e.attributes?.['holdfast.reason']]), [
    ['holdfast.attempt', 1, 'first'],
    ['holdfast.attempt', 2, 'status 503'],
  ]);
  const traceId = span!.spanContext().traceId;
  assert.equal(server.traceparents.length, 2);
  for (const header of server.traceparents) assert.match(header ?? '', new RegExp(`^00-${traceId}-${span!.spanContext().spanId}-0[01]$`));
});

test('a failed request ends its span with an error status and the error', async (t) => {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const dispatcher = dispatcherFor(t, { tracing: { tracerProvider }, retry: { maxAttempts: 1 } });
  await assert.rejects(request('http://127.0.0.1:1/', { dispatcher }), { code: 'HF_ERR_CONNECT' });
  const [span] = exporter.getFinishedSpans();
  assert.equal(span!.status.code, SpanStatusCode.ERROR);
  assert.equal(span!.attributes['error.type'], 'HF_ERR_CONNECT');
});

test('the request channels: start, each attempt with its reason, end, for one request object', async (t) => {
  const server = await flakyOnce(t);
  const seen: Array<[string, unknown]> = [];
  const listeners = ['start', 'attempt', 'end'].map((kind) => {
    const name = `holdfast:client:request-${kind}`;
    const listener = (message: unknown) => seen.push([kind, message]);
    diagnosticsChannel.subscribe(name, listener);
    return () => diagnosticsChannel.unsubscribe(name, listener);
  });
  t.after(() => listeners.forEach((off) => off()));
  const dispatcher = dispatcherFor(t, { retry: { baseDelayMs: 1, maxDelayMs: 1 } });
  await (await request(`${server.url}/a`, { dispatcher })).body.dump();
  const [[, start]] = seen as [[string, object]];
  assert.deepEqual(seen.map(([kind, message]) => {
    const { request: req, ...rest } = message as { request?: object };
    return [kind, req === undefined ? rest : req === start ? rest : 'another request'];
  }), [
    ['start', { origin: server.url, method: 'GET', path: '/a' }],
    ['attempt', { attempt: 1, reason: 'first' }],
    ['attempt', { attempt: 2, reason: 'status 503' }],
    ['end', { attempts: 2, statusCode: 200, error: undefined }],
  ]);
});
