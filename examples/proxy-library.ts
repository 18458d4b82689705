/**
 * The proxy as a library: createProxy() with a config object (typed from the schema), its
 * events, a reload, and a drain. It proxies to an upstream of its own on loopback and prints
 * what it saw.
 *   node --import tsx examples/proxy-library.ts
 * With a file instead, the config and the certificates it names are watched and reloaded on a
 * change, as `holdfast proxy --config FILE` does: createProxy({ file: 'proxy.yaml' }).
 */
import { once } from 'node:events';
import { createServer } from 'node:http';
import { request } from 'undici';
import { createProxy, type ProxyConfigInput } from '@holdfast/proxy';

export async function proxyLibraryDemo(): Promise<string[]> {
  const upstream = createServer((req, res) => res.end(`upstream saw ${req.method} ${req.url}`));
  upstream.listen(0, '127.0.0.1');
  await once(upstream, 'listening');
  const config = (greeting: string): ProxyConfigInput => ({
    listeners: [{ host: '127.0.0.1', port: 0 }],
    upstreams: [{ name: 'app', targets: [`127.0.0.1:${(upstream.address() as { port: number }).port}`] }],
    routes: [{
      name: 'web', action: {
        type: 'http', routes: [
          { name: 'hello', match: { pathPrefix: '/hello' }, action: { type: 'respond', status: 200, body: greeting } },
          { name: 'app', action: { type: 'proxy', upstream: 'app' }, rewrite: { path: { stripPrefix: '/api' } } },
        ],
      },
    }],
  });
  const lines: string[] = [];
  const proxy = createProxy({ config: config('hello') });
  proxy.on('request', ({ route, status }) => lines.push(`request: ${route} ${status}`));
  proxy.on('reload', ({ applied, error }) => lines.push(`reload: ${applied ? 'applied' : `refused (${error})`}`));
  const [listener] = await proxy.start();
  const base = `http://127.0.0.1:${listener!.port}`;
  try {
    lines.push(await (await request(`${base}/hello`)).body.text());
    lines.push(await (await request(`${base}/api/items?x=1`)).body.text());
    await proxy.reload(config('hello again'));
    lines.push(await (await request(`${base}/hello`)).body.text());
    await proxy.reload({ ...config('x'), routes: [] }).catch((err: Error) => lines.push(`invalid config kept out: ${err.message}`));
  } finally {
    const { drained } = await proxy.drain(1_000);
    lines.push(`drained: ${drained}`);
    upstream.close();
  }
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) process.stdout.write(`${(await proxyLibraryDemo()).join('\n')}\n`);
