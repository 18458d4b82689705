// The floor for a Node reverse proxy: a node:http server and an undici Pool with a raw
// dispatch handler, nothing else (no forwarding headers, no hop-by-hop filtering, no metrics,
// no limits), in its own process: node bench/bare-node-proxy.mjs PORT UPSTREAM_PORT.
import { createServer } from 'node:http';
import { Pool } from 'undici';
import { relayTo } from './relay-handler.mjs';

const [port, upstream] = process.argv.slice(2).map(Number);
const pool = new Pool(`http://127.0.0.1:${upstream}`, { connections: 128, allowH2: false });
const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  pool.dispatch({ path: req.url, method: req.method, headers: ['host', req.headers.host ?? ''], body: null }, relayTo(res, (status, raw) => {
    const out = [];
    for (let i = 0; i < raw.length; i += 2) out.push(raw[i].toString('latin1'), raw[i + 1].toString('latin1'));
    res.writeHead(status, out);
  }));
});
server.listen(port, '127.0.0.1', () => process.send?.('listening'));
process.on('disconnect', () => process.exit(0));
