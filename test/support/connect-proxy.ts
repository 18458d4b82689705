import { once } from 'node:events';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** What the proxy was asked: a tunnel (`CONNECT host:port`) or a forwarded absolute-form request. */
export interface ProxyLogEntry {
  kind: 'tunnel' | 'forward';
  target: string;
  proxyAuthorization: string | undefined;
}

/**
 * A small forward proxy on 127.0.0.1 port 0 for tests: CONNECT tunnels and absolute-form
 * requests, as Squid or an enterprise proxy takes them. Closed, with every socket, at the end
 * of the test.
 */
export async function startConnectProxy(t: { after(fn: () => Promise<void>): void }): Promise<{ url: string; log: ProxyLogEntry[] }> {
  const log: ProxyLogEntry[] = [];
  const sockets = new Set<Duplex>();
  const track = (socket: Duplex) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('close', () => sockets.delete(socket));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const target = new URL(req.url ?? '/');
    log.push({ kind: 'forward', target: target.host, proxyAuthorization: req.headers['proxy-authorization'] });
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const upstream = httpRequest({ host: target.hostname, port: target.port, path: target.pathname + target.search, method: req.method, headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  server.on('connection', track);
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    log.push({ kind: 'tunnel', target: req.url ?? '', proxyAuthorization: req.headers['proxy-authorization'] });
    const [host, port] = (req.url ?? '').split(':');
    const upstream = connect(Number(port), host!, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    track(upstream);
    upstream.once('close', () => client.destroy());
    client.once('close', () => upstream.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(async () => {
    for (const socket of sockets) socket.destroy();
    server.close();
    await once(server, 'close');
  });
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, log };
}
