// node http-proxy (npm http-proxy) as a reverse proxy with a keep-alive agent to the upstream,
// in its own process: node bench/http-proxy-peer.mjs PORT UPSTREAM_PORT. Tells its parent when listening.
import { Agent, createServer } from 'node:http';
import httpProxy from 'http-proxy';

const [port, upstream] = process.argv.slice(2).map(Number);
const proxy = httpProxy.createProxyServer({ target: `http://127.0.0.1:${upstream}`, agent: new Agent({ keepAlive: true, maxSockets: 128 }), xfwd: true });
proxy.on('error', (_err, _req, res) => {
  if ('writeHead' in res && !res.headersSent) res.writeHead(502);
  res.end();
});
const server = createServer((req, res) => proxy.web(req, res));
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => process.send?.('listening'));
process.on('disconnect', () => process.exit(0));
