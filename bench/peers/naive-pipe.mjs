// The naive forwarder the proxy issue compares against: net.connect + pipe both ways, with
// the 'error' listeners it needs to survive a single reset, and nothing else (no tracking,
// limits, timeouts or half-close handling). Listens on argv[2], forwards to argv[3].
import { connect, createServer } from 'node:net';

const [listenPort, targetPort] = process.argv.slice(2).map(Number);
const server = createServer((client) => {
  const backend = connect({ host: '127.0.0.1', port: targetPort });
  const done = () => { client.destroy(); backend.destroy(); };
  client.on('error', done);
  backend.on('error', done);
  client.pipe(backend);
  backend.pipe(client);
});
server.listen(listenPort, '127.0.0.1', () => process.send?.('ready'));
process.on('disconnect', () => process.exit(0));
