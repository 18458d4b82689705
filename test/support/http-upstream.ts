import { once } from 'node:events';
import { createServer as createHttpServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer } from 'ws';

type Hooks = { after(fn: () => Promise<void> | void): void };

export interface Upstream {
  name: string;
  port: number;
  server: Server;
  /** Sockets open now (for leak checks on the upstream's side). */
  sockets: Set<Socket>;
  /** Requests served, by path. */
  hits: Map<string, number>;
  /** The status /health answers. */
  health: number;
  /** Override a path's answer for a test. */
  routes: Map<string, (req: IncomingMessage, res: ServerResponse) => void>;
}

/** What `/info` answers: the request as the upstream received it. */
export interface Info {
  upstream: string;
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  bodyBytes: number;
  tls: boolean;
  servername: string | undefined;
}

/**
 * An HTTP (or, with `tls`, HTTPS) upstream on 127.0.0.1:0 that answers `/info` with what it
 * received, `/health` with `health`, and echoes WebSocket messages on any path. Node's
 * default keep-alive (5 s, advertised).
 */
export async function startUpstream(t: Hooks, name: string, tls?: { cert: Buffer; key: Buffer }): Promise<Upstream> {
  const sockets = new Set<Socket>();
  const hits = new Map<string, number>();
  const routes = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
  const upstream = { name, port: 0, sockets, hits, routes, health: 200 } as Upstream;
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const custom = routes.get(path);
    if (custom !== undefined) return custom(req, res);
    if (path === '/health') {
      res.statusCode = upstream.health;
      return res.end();
    }
    let bodyBytes = 0;
    req.on('data', (chunk: Buffer) => { bodyBytes += chunk.length; });
    req.on('end', () => {
      const socket = req.socket as TLSSocket;
      const info: Info = {
        upstream: name, method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes,
        tls: socket.encrypted === true, servername: (socket as { servername?: string | false }).servername || undefined,
      };
      res.setHeader('content-type', 'application/json');
      res.setHeader('connection', 'keep-alive, x-upstream-hop');
      res.setHeader('x-upstream-hop', 'must not pass');
      res.end(JSON.stringify(info));
    });
  };
  const server = tls === undefined ? createHttpServer(handler) : createHttpsServer({ ...tls }, handler);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  if (tls !== undefined) server.on('tlsClientError', () => {});
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => {
    ws.on('error', () => {});
    ws.on('message', (data, binary) => ws.send(binary ? data : `echo:${String(data)}`));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  upstream.port = (server.address() as { port: number }).port;
  upstream.server = server;
  t.after(async () => {
    wss.close();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return upstream;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  peerCertificate?: { subject: { CN?: string }; serialNumber: string };
}

/**
 * One request on a connection of its own (no agent: nothing stays open after the answer),
 * over TLS with `tls` (the CA to trust and the SNI to send).
 */
export function fetchOnce(port: number, path: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; tls?: { ca: Buffer; servername: string } } = {}): Promise<Answer> {
  const { method = 'GET', headers = {}, body, tls } = options;
  return new Promise((resolve, reject) => {
    const common = { host: '127.0.0.1', port, path, method, headers, agent: false as const };
    const req = tls === undefined ? httpRequest(common) : httpsRequest({ ...common, ca: tls.ca, servername: tls.servername });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      const certificate = tls === undefined ? undefined : (res.socket as TLSSocket).getPeerCertificate();
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => resolve({
        status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString(),
        ...(certificate === undefined ? {} : { peerCertificate: { subject: { CN: certificate.subject?.CN as string | undefined }, serialNumber: certificate.serialNumber } }),
      }));
    });
    req.end(body);
  });
}
