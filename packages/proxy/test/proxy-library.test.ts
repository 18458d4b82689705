/**
 * Issue 22, item 5: the proxy as a library (createProxy). The runnable example in examples/
 * runs here, so that it never rots; file mode is checked to reload on a change of its file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { stringify } from 'yaml';
import { proxyLibraryDemo } from '../../../examples/proxy-library.js';
import { createProxy } from '@holdfast/proxy';

test('examples/proxy-library.ts: requests, events, a reload, an invalid config refused, a drain', async () => {
  const lines = await proxyLibraryDemo();
  const events = lines.filter((line) => line.startsWith('request: '));
  assert.deepEqual(events, ['request: hello 200', 'request: app 200', 'request: hello 200']);
  assert.deepEqual(lines.filter((line) => !line.startsWith('request: ')), [
    'hello',
    'upstream saw GET /items?x=1',
    'reload: applied',
    'hello again',
    'reload: refused (config: routes: expected at least one route)',
    'invalid config kept out: config: routes: expected at least one route',
    'drained: true',
  ]);
});

test('createProxy({ file }) watches the file as the CLI does: a change is applied, and said in a reload event', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-library-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'proxy.yaml');
  const config = (body: string) => stringify({
    listeners: [{ host: '127.0.0.1', port: 0 }],
    routes: [{ name: 'web', action: { type: 'http', routes: [{ name: 'r', action: { type: 'respond', status: 200, body } }] } }],
  });
  writeFileSync(file, config('one'));
  const proxy = createProxy({ file });
  const [listener] = await proxy.start();
  t.after(() => proxy.close());
  const get = async () => (await request(`http://127.0.0.1:${listener!.port}/`)).body.text();
  assert.equal(await get(), 'one');
  const reloaded = once(proxy, 'reload');
  writeFileSync(file, config('two'));
  assert.deepEqual((await reloaded)[0], { why: 'file change', applied: true });
  assert.equal(await get(), 'two');
  assert.throws(() => createProxy({ file }).addresses, /call start\(\) first/);
});

test('createProxy() refuses workers (the CLI\'s supervisor forks them), naming the field, instead of ignoring it', async () => {
  const proxy = createProxy({ config: {
    workers: 2,
    listeners: [{ host: '127.0.0.1', port: 0 }],
    routes: [{ name: 'web', action: { type: 'http', routes: [{ name: 'ok', action: { type: 'respond', status: 204 } }] } }],
  } });
  await assert.rejects(proxy.start(), (err: Error & { code?: string; field?: string }) => err.code === 'HF_ERR_PROXY_CONFIG' && err.field === 'workers' && /holdfast proxy/.test(err.message));
});
