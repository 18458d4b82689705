import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTable, runKeepaliveRace } from '../bench/runners/keepalive-race.js';
import { runOverhead } from '../bench/runners/overhead.js';
import { runPaging } from '../bench/runners/servicenow-paging.js';
import { runFullLoad } from '../bench/runners/servicenow-full-load.js';
import { runDashboard } from '../bench/runners/servicenow-dashboard.js';
import { formatL4, runProxyL4 } from '../bench/runners/proxy-l4.js';
import { formatHttp, NAMES, runProxyHttp } from '../bench/runners/proxy-http.js';
import { BODY_NAMES, formatBody, runProxyBody } from '../bench/runners/proxy-body.js';
import { runProxyMemory } from '../bench/runners/proxy-memory.js';
import { runProxySoak } from '../bench/runners/proxy-soak.js';
import { formatH2, H2_NAMES, runProxyH2 } from '../bench/runners/proxy-h2.js';

// Tiny runs of the benchmarks, so that they never rot. Speed is not asserted here:
// it is measured by hand, against a peer in the same run (see README).

test('keepalive-race runs, and holdfast loses no GET and sends no POST twice', async () => {
  const results = await runKeepaliveRace({
    requests: 8, idleMs: 60, raceWindowMs: 15, seed: 7,
    modes: ['idle-fin', 'idle-rst', '503-burst'], clients: ['undici Agent', 'holdfast'],
  });
  assert.equal(results.length, 6);
  for (const r of results.filter((x) => x.client === 'holdfast')) {
    assert.equal(r.failedGets, 0, `${r.mode}: failed GETs`);
    assert.equal(r.duplicatePosts, 0, `${r.mode}: duplicate POSTs`);
    assert.equal(r.postsSentTwice, 0, `${r.mode}: POSTs without a key sent twice`);
    assert.equal(r.postsFailedButApplied, 0, `${r.mode}: POSTs reported failed but applied`);
  }
  assert.match(formatTable(results), /^\| mode \| client \|/);
});

test('keepalive-race runs its HTTP/2 modes, and holdfast loses no request to a GOAWAY', async () => {
  const results = await runKeepaliveRace({
    requests: 8, idleMs: 60, raceWindowMs: 15, seed: 7, modes: ['h2-goaway-idle', 'h2-goaway-load'], clients: ['holdfast (h2)'],
  });
  assert.equal(results.length, 2);
  for (const r of results) {
    assert.equal(r.failedGets + r.failedPostsKeyed, 0, `${r.mode}: failed GETs or keyed POSTs`);
    assert.equal(r.postsSentTwice, 0, `${r.mode}: POSTs without a key sent twice`);
  }
});

test('overhead runs both clients against a server in its own process', async () => {
  const result = await runOverhead({ durationMs: 200, rounds: 1, concurrency: 4, allPolicies: true });
  assert.equal(result.undiciPool.length, 1);
  assert.ok(result.undiciMedian > 0 && result.holdfastMedian > 0);
  assert.ok(result.ratio > 0);
  for (const share of [result.undiciSlowShare, result.holdfastSlowShare]) assert.ok(share >= 0 && share <= 1, `slow share ${share}`);
});

test('servicenow-paging pages through every incident in sys_updated_on, sys_id order', async () => {
  const result = await runPaging({ records: 600, pageSize: 50 });
  assert.equal(result.incidents, 300);
  assert.equal(result.pages, 6);
  assert.ok(result.recordsPerSecond > 0);
});

test('servicenow-full-load loads every incident and counts the upstream requests', { timeout: 60_000 }, async () => {
  const result = await runFullLoad({ records: 400, pageSize: 50, rate: 500 });
  assert.equal(result.incidents, 200);
  assert.ok(result.upstreamRequests >= 5, `${result.upstreamRequests} requests`);
});

test('servicenow-dashboard loads both routes while sync cycles run', { timeout: 60_000 }, async () => {
  const results = await runDashboard({ records: 200, churn: 20, connections: 2, seconds: 1 });
  assert.deepEqual(results.map((r) => r.route), ['/dashboard', '/api/summary']);
  for (const r of results) {
    assert.ok(r.requestsPerSecond > 0);
    assert.equal(r.non2xx, 0);
  }
});

test('proxy-l4 runs holdfast and the naive pipe (and HAProxy, when installed) through one backend', { timeout: 60_000 }, async () => {
  const result = await runProxyL4({ seconds: 1, rounds: 1, connections: 4 });
  assert.deepEqual(result.rows.slice(0, 2).map((r) => r.name), ['holdfast proxy', 'naive net pipe']);
  for (const row of result.rows) {
    assert.equal(row.errors, 0, row.name);
    assert.ok(row.medianRps > 0 && row.medianCpuUs > 0, row.name);
  }
  assert.match(formatL4(result), /holdfast's CPU per request: [\d.]+× the naive pipe's/);
});

test('proxy-http runs holdfast, node http-proxy and fastify (and nginx and HAProxy, when installed) through one upstream', { timeout: 90_000 }, async () => {
  const result = await runProxyHttp({ seconds: 1, rounds: 1, connections: 4 });
  const names = result.rows.map((r) => r.name);
  assert.equal(names[0], NAMES.holdfast);
  assert.ok(names.includes(NAMES.httpProxy) && names.includes(NAMES.fastify), names.join(', '));
  for (const row of result.rows) {
    assert.equal(row.errors, 0, row.name);
    assert.ok(row.medianRps > 0 && row.medianCpuUs > 0, row.name);
  }
  assert.ok(result.holdfastOver[NAMES.fastify]! > 0 && result.holdfastOver[NAMES.bare]! > 0);
  assert.ok(result.floorOver[NAMES.fastify]! > 0);
  assert.ok(result.rows.every((row) => row.backendCpuUsPerRequest.length === 1), 'the upstream is measured in every run');
  assert.ok(result.rows.reduce((sum, row) => sum + row.medianUpstreamCpuUs, 0) > 0);
  assert.equal(result.floorOver[NAMES.holdfast], undefined);
  assert.match(formatHttp(result), /fastify \+ @fastify\/http-proxy/);
  assert.match(formatHttp(result), /The bare Node floor's CPU per request \(median of rounds\): (.+, )?[\d.]+× node http-proxy's, /);
});

test('proxy-http --access-log runs holdfast with its access log against holdfast without, and counts the lines written', { timeout: 60_000 }, async () => {
  const result = await runProxyHttp({ seconds: 1, rounds: 1, connections: 4, accessLog: true });
  assert.deepEqual(result.rows.map((r) => r.name), [NAMES.holdfast, NAMES.logged]);
  for (const row of result.rows) assert.ok(row.errors === 0 && row.medianRps > 0 && row.medianCpuUs > 0, row.name);
  const measured = Math.floor(result.rows[1]!.rps[0]! * 0.9); // a 1 s round: its req/s is about its request count
  assert.ok(result.accessLog!.costRatio > 0);
  assert.ok(result.accessLog!.lines >= measured, `${result.accessLog!.lines} lines for about ${measured} measured requests (warm-up ones too)`);
  assert.match(formatHttp(result), /The access log's cost: [\d.]+× the CPU per request of holdfast without it/);
});

test('proxy-l4 --workers runs holdfast with two workers (cluster and reusePort) beside one process', { timeout: 60_000 }, async () => {
  const result = await runProxyL4({ seconds: 1, rounds: 1, connections: 4, workers: true });
  assert.equal(result.rows.length, 3);
  for (const row of result.rows) assert.ok(row.errors === 0 && row.medianRps > 0 && row.medianCpuUs > 0, row.name);
  assert.match(formatL4(result), /Two workers' req\/s over one process's \(medians\): \d+% with cluster, \d+% with reusePort/);
});

test('proxy-http --workers runs holdfast with two workers (cluster and reusePort) beside one process', { timeout: 60_000 }, async () => {
  const result = await runProxyHttp({ seconds: 1, rounds: 1, connections: 4, workers: true });
  assert.deepEqual(result.rows.map((r) => r.name), [NAMES.holdfast, NAMES.cluster, NAMES.reusePort]);
  for (const row of result.rows) assert.ok(row.errors === 0 && row.medianRps > 0 && row.medianCpuUs > 0, row.name);
  assert.ok(result.workers!.clusterRps > 0 && result.workers!.reusePortRps > 0);
  assert.match(formatHttp(result), /Two workers' req\/s over one process's \(medians\): \d+% with cluster, \d+% with reusePort/);
});

test('proxy-memory measures the RSS of idle proxied connections', { timeout: 60_000 }, async () => {
  const result = await runProxyMemory(200);
  assert.equal(result.connections, 200);
  assert.ok(result.rssAfterBytes > 0 && Number.isFinite(result.bytesPerConnection));
});

test('proxy-soak runs chaos and load together and ends with no connection open', { timeout: 60_000 }, async () => {
  const result = await runProxySoak(3);
  assert.equal(result.activeAtEnd, 0);
  assert.ok(result.roundTrips > 0 && result.chaosConnections > 0);
  assert.ok(result.samples.length >= 2);
});

test('proxy-body runs holdfast with bodies read first and streamed (and nginx, when installed) with POST bodies', { timeout: 60_000 }, async () => {
  const rows = await runProxyBody({ seconds: 1, rounds: 1, connections: 2, sizes: [2048] });
  assert.deepEqual(rows.slice(0, 2).map((r) => r.name), [BODY_NAMES.buffered, BODY_NAMES.streamed]);
  for (const row of rows) {
    assert.equal(row.errors, 0, row.name);
    assert.ok(row.medianRps > 0 && row.medianCpuUs > 0, row.name);
  }
  assert.match(formatBody(rows), /\| 2048 B \| holdfast, bodies read first/);
});

test('proxy-h2 runs h2load against holdfast (and nginx, when installed) over h2', { timeout: 60_000 }, async (t) => {
  if (spawnSync('h2load', ['--version']).error !== undefined) {
    const message = 'needs h2load (install it: apt-get install nghttp2-client)';
    if (process.env.HOLDFAST_REQUIRE_ALL === '1') throw new Error(`${message}; HOLDFAST_REQUIRE_ALL=1 makes this a failure`);
    return t.skip(message);
  }
  const result = await runProxyH2({ seconds: 1, rounds: 1, clients: 2, streams: 4 });
  assert.equal(result.rows[0]!.name, H2_NAMES.holdfast);
  for (const row of result.rows) {
    assert.equal(row.failed, 0, row.name);
    assert.ok(row.medianRps > 0 && row.medianCpuUs > 0, row.name);
  }
  assert.match(formatH2(result), /\| holdfast proxy \(terminate, h2\) \|/);
});
