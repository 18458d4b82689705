import { test } from 'node:test';
import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, parseConfig } from '../src/proxy/config/config-loader.js';
import { ProxyRuntime } from '../src/proxy/runtime.js';
import { pino } from 'pino';
import { ProxyServer } from '../src/proxy/proxy-server.js';
import { ProxyConfigError } from 'holdfast/internal/errors.js';
import { closedPort } from '../../../test/support/helpers.js';
import { createRequire } from 'node:module';
import { Registry } from 'prom-client';
import { CidrSet } from '../src/net/address.js';
import { HttpMetrics } from '../src/proxy/http/http-metrics.js';
import { HttpSite } from '../src/proxy/http/http-site.js';
import { selfSignedCertificate } from '../../../test/support/tls-fixtures.js';
import { systemClock } from 'holdfast/internal/clock.js';

test('regression: a reload refused for a missing CA file starts no health check and leaves the running config', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { cert, key } = selfSignedCertificate();
  writeFileSync(join(dir, 'cert.pem'), cert);
  writeFileSync(join(dir, 'key.pem'), key);
  const upstream = await closedPort();
  const proxy = await ProxyServer.start(parseConfig({
    listeners: [{ host: '127.0.0.1', port: 0 }],
    routes: [{ name: 'web', action: { type: 'http', routes: [{ name: 'fixed', action: { type: 'respond', status: 204 } }] } }],
  }));
  t.after(() => proxy.shutdown(0));
  // undici publishes request creation synchronously: a health check started during reload() shows here.
  const created: string[] = [];
  const onCreate = (message: unknown) => { created.push((message as { request: { path: string } }).request.path); };
  diagnosticsChannel.subscribe('undici:request:create', onCreate);
  t.after(() => diagnosticsChannel.unsubscribe('undici:request:create', onCreate));
  const next = parseConfig({
    upstreams: [
      { name: 'checked', targets: [`127.0.0.1:${upstream}`], healthCheck: { path: '/health' } },
      { name: 'reenc', targets: [`127.0.0.1:${upstream}`], tls: { caFile: join(dir, 'missing-ca.pem') } },
    ],
    listeners: [{ host: '127.0.0.1', port: 0 }],
    certificates: [{ certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') }],
    routes: [
      { name: 'web', action: { type: 'http', routes: [{ name: 'checked', action: { type: 'proxy', upstream: 'checked' } }] } },
      { name: 'reenc', action: { type: 'terminate', routes: [{ name: 'x', action: { type: 'proxy', upstream: 'reenc' } }] } },
    ],
  });
  await assert.rejects(proxy.reload(next), (err: unknown) => err instanceof ProxyConfigError && err.field === 'upstreams[1].tls.caFile');
  assert.deepEqual(created, [], 'no health check request was created');
  assert.equal(proxy.config.routes.length, 1, 'the running config stays');
});

test('regression: a retired HTTP site stops its connection checks (reloads do not pile up interval timers)', async () => {
  const config = parseConfig({
    listeners: [{ host: '127.0.0.1', port: 0 }],
    routes: [{ name: 'web', action: { type: 'http', routes: [{ name: 'fixed', action: { type: 'respond', status: 204 } }] } }],
  });
  const action = config.routes[0]!.action;
  assert.ok(action.type === 'http');
  const site = new HttpSite(action.routes, 'http', { settings: config.http, trusted: new CidrSet([]), metrics: new HttpMetrics(new Registry()), upstreams: new Map(), clock: systemClock });
  // Node keeps the headers/request timeout check on this symbol (lib/_http_server.js).
  const { kConnectionsCheckingInterval } = createRequire(import.meta.url)('_http_server') as { kConnectionsCheckingInterval: symbol };
  const interval = (site.server as unknown as Record<symbol, { _destroyed: boolean }>)[kConnectionsCheckingInterval]!;
  assert.equal(interval._destroyed, false, 'started: slowloris clients are cut off');
  await site.retire(); // no connection: retires at once
  assert.equal(interval._destroyed, true, 'stopped once retired');
});

test('ProxyRuntime (the library, without the CLI) reloads when its config file changes, and keeps the running config on a bad one (issue 18)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-runtime-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'proxy.yaml');
  const yaml = (route: string) => `listeners:\n  - port: 0\n    host: 127.0.0.1\nupstreams:\n  - name: nowhere\n    targets: ["127.0.0.1:9"]\nroutes:\n  - name: ${route}\n    action: { type: forward, upstream: nowhere }\n`;
  writeFileSync(file, yaml('first'));
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: () => void }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(line); for (const w of waiters.splice(0)) if (w.pattern.test(line)) w.resolve(); else waiters.push(w); } });
  const logged = (pattern: RegExp) => new Promise<void>((resolve) => { if (lines.some((l) => pattern.test(l))) resolve(); else waiters.push({ pattern, resolve }); });
  const runtime = await ProxyRuntime.start(file, await loadConfigFile(file), { logger });
  t.after(() => runtime.stop());
  assert.equal(runtime.proxy.config.routes[0]!.name, 'first');

  writeFileSync(file, yaml('second'));
  await logged(/config reloaded/);
  assert.equal(runtime.proxy.config.routes[0]!.name, 'second');

  writeFileSync(file, 'routes: [');
  await logged(/config reload refused/);
  assert.equal(runtime.proxy.config.routes[0]!.name, 'second', 'the running config stays');
});
