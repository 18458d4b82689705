// The floor for a Node HTTP/2 reverse proxy: node:http2's secure server (the compatibility
// API, as holdfast uses it) and an undici Pool with a raw dispatch handler, nothing else (no
// forwarding headers, no header checks, no metrics, no limits), in its own process:
// node bench/peers/bare-node-h2-proxy.mjs PORT UPSTREAM_PORT CERT_FILE KEY_FILE.
import { readFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import { Pool } from 'undici';
import { relayTo } from './relay-handler.mjs';

const [port, upstream] = process.argv.slice(2, 4).map(Number);
const [certFile, keyFile] = process.argv.slice(4, 6);
const pool = new Pool(`http://127.0.0.1:${upstream}`, { connections: 128, allowH2: false });
const server = createSecureServer({ cert: readFileSync(certFile), key: readFileSync(keyFile), allowHTTP1: true }, (req, res) => {
  pool.dispatch({ path: req.url, method: req.method, headers: ['host', req.headers[':authority'] ?? req.headers.host ?? ''], body: null }, relayTo(res, (status, raw) => {
    const headers = { ':status': status };
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toString('latin1').toLowerCase();
      if (name !== 'connection' && name !== 'keep-alive') headers[name] = raw[i + 1].toString('latin1');
    }
    res.stream.respond(headers);
  }));
});
server.listen(port, '127.0.0.1', () => process.send?.('listening'));
process.on('disconnect', () => process.exit(0));
