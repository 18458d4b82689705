import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as proxy from '@holdfast/proxy';
import type { ProxyConfigInput } from '@holdfast/proxy';

// The runtime surface of @holdfast/proxy: adding or removing an export is a deliberate change to this list.
const EXPECTED = [
  'ProxyServer', 'ProxyRuntime', 'createProxy', 'HoldfastProxy', 'loadConfigFile', 'parseConfig',
  'ProxyConfigError', 'NoUpstreamError', 'ProxyBadRequestError', 'ProxyNoRouteError', 'BodyTooLargeError',
];

test('the proxy package exports exactly the documented names', () => {
  assert.deepEqual(Object.keys(proxy).sort(), [...EXPECTED].sort());
});

test('parseConfig names the field it refuses, with the catalog error the package exports', () => {
  const config = { listeners: [{ host: '127.0.0.1', port: 0 }], routes: [{ name: 'r', action: { type: 'forward', upstream: 'nowhere' } }] } as unknown as ProxyConfigInput;
  assert.throws(() => proxy.parseConfig(config), (err: unknown) => err instanceof proxy.ProxyConfigError && /routes\[0\]\.action\.upstream/.test(err.message) && /nowhere/.test(err.message));
});
