// fastify with @fastify/http-proxy (undici under @fastify/reply-from) as a reverse proxy, in its
// own process: node bench/fastify-proxy-peer.mjs PORT UPSTREAM_PORT. Tells its parent when listening.
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';

const [port, upstream] = process.argv.slice(2).map(Number);
const app = Fastify({ logger: false, keepAliveTimeout: 65_000 });
await app.register(proxy, { upstream: `http://127.0.0.1:${upstream}`, undici: { connections: 128, pipelining: 1 } });
await app.listen({ host: '127.0.0.1', port });
process.send?.('listening');
process.on('disconnect', () => process.exit(0));
