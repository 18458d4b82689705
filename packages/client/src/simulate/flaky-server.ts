import { systemClock, type Clock } from '../clock.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { z } from 'zod';
import { faultSchema } from './flaky-faults.js';
import { parseOptions } from '../parse-options.js';
import { listen, RefusalWindows } from './refusal-windows.js';

export type FlakyFaults = z.input<typeof faultSchema>;
export type FlakyOptions = FlakyFaults & {
  host?: string;
  port?: number;
  /** Serve https with this key and certificate (PEM). */
  tls?: { key: string | Buffer; cert: string | Buffer };
  /** The idle-close and slow-answer timers and the refusal windows; a fake one in tests. */
  clock?: Clock;
};

export interface FlakyStats {
  connections: number;
  /** Requests that reached the server, answered or not. */
  received: number;
  /** Requests dropped unanswered because their connection had idled out (the keep-alive race). */
  dropped: number;
  /** Requests that reached the server, answered or not, by id header value. */
  receivedById: Record<string, number>;
  /** Requests answered 2xx, i.e. applied, by method. */
  processedByMethod: Record<string, number>;
  /** Requests answered 2xx, by id header value. */
  processedById: Record<string, number>;
  /** Requests answered with a fault status. */
  faulted: number;
  /** Times new connections were refused (listener closed). */
  refusals: number;
}

interface Conn {
  idleSince: number;
  /** Requests that arrived on this connection: one more arriving means the connection is reused. */
  requests: number;
  /** A response on it has not finished yet: a request arriving now has idled 0 ms. */
  answering: boolean;
  /** Responses finished on this connection. */
  served: number;
  /** Silently dropped (`silentDrop`): nothing on it is answered any more. */
  silent: boolean;
  /** Cancels the pending idle close. */
  timer: (() => void) | undefined;
}

const STATS_PATH = '/__flaky/stats';

function parseFaults(input: unknown): z.output<typeof faultSchema> {
  return parseOptions(faultSchema, input);
}

/**
 * A fault-injecting HTTP/1.1 upstream for tests, benchmarks and users.
 *
 * @example
 * const server = await FlakyServer.start({ idleCloseMs: 1000, closeWith: 'rst' });
 * // … send requests to server.url …
 * server.stats().dropped;
 * await server.close();
 */
export class FlakyServer {
  readonly #server: Server;
  readonly #conns = new Map<Socket, Conn>();
  #faults: z.output<typeof faultSchema>;
  #stats: FlakyStats = FlakyServer.#emptyStats();
  #host = '127.0.0.1';
  #port = 0;
  readonly #refusals: RefusalWindows;
  /** Requests with a body so far, for `resetMidUpload`. */
  #uploads = 0;

  readonly #protocol: 'http' | 'https';

  readonly #clock: Clock;

  private constructor(faults: z.output<typeof faultSchema>, tls: FlakyOptions['tls'], clock: Clock) {
    this.#faults = faults;
    this.#clock = clock;
    const serverOptions = { keepAliveTimeout: 0, requestTimeout: 0 };
    const onRequest = (req: IncomingMessage, res: ServerResponse) => this.#onRequest(req, res);
    this.#protocol = tls === undefined ? 'http' : 'https';
    this.#server = tls === undefined ? createServer(serverOptions, onRequest) : createTlsServer({ ...serverOptions, ...tls }, onRequest);
    // Node's own idle timer is off (keepAliveTimeout 0): this server closes idle sockets itself, to the millisecond.
    this.#server.keepAliveTimeout = 0;
    // Over TLS, requests arrive on the TLS socket, so that is the one to track.
    this.#server.on(tls === undefined ? 'connection' : 'secureConnection', (socket: Socket) => this.#onConnection(socket));
    if (tls !== undefined) this.#server.on('tlsClientError', () => {});
    this.#refusals = new RefusalWindows(this.#server, () => ({ host: this.#host, port: this.#port }), () => {
      this.#stats.refusals++;
      // A restarting server closes its idle connections (the ones not answering a request).
      for (const [socket, conn] of this.#conns) if (!conn.answering) socket.destroy();
    }, clock);
  }

  static async start(options: FlakyOptions = {}): Promise<FlakyServer> {
    const { host = '127.0.0.1', port = 0, tls, clock = systemClock, ...faults } = options;
    const server = new FlakyServer(parseFaults(faults), tls, clock);
    await server.#listen(host, port);
    server.#refusals.schedule(server.#faults.refuse);
    return server;
  }

  static #emptyStats(): FlakyStats {
    return { connections: 0, received: 0, dropped: 0, receivedById: {}, processedByMethod: {}, processedById: {}, faulted: 0, refusals: 0 };
  }

  get url(): string {
    return `${this.#protocol}://${this.#host.includes(':') ? `[${this.#host}]` : this.#host}:${this.#port}`;
  }

  get port(): number {
    return this.#port;
  }

  /** Connections open right now. */
  get openConnections(): number {
    return this.#conns.size;
  }

  stats(): FlakyStats {
    return structuredClone(this.#stats);
  }

  /** Ids that were processed more than once: duplicates. */
  duplicates(): string[] {
    return Object.entries(this.#stats.processedById).filter(([, n]) => n > 1).map(([id]) => id);
  }

  resetStats(): void {
    this.#stats = FlakyServer.#emptyStats();
  }

  /** Changes faults at runtime; unspecified faults keep their values. */
  configure(faults: FlakyFaults): void {
    this.#faults = parseFaults({ ...this.#faults, ...faults });
    this.#refusals.schedule(this.#faults.refuse);
  }

  /** Stops listening for `ms` (connects get ECONNREFUSED) and drops idle connections, like a restarting server. */
  refuseFor(ms: number): Promise<void> {
    return this.#refusals.refuseFor(ms);
  }

  /** Stops listening and closes every connection. Resolves once all of them have closed. */
  async close(): Promise<void> {
    this.#refusals.stop();
    const closing = [...this.#conns.keys()].map((socket) => new Promise((resolve) => {
      socket.once('close', resolve);
      socket.destroy();
    }));
    if (this.#server.listening) closing.push(new Promise<void>((resolve) => this.#server.close(() => resolve())));
    await Promise.all(closing);
  }

  async #listen(host: string, port: number): Promise<void> {
    const address = await listen(this.#server, host, port);
    this.#host = host;
    this.#port = address.port;
  }

  #onConnection(socket: Socket): void {
    socket.on('error', () => {}); // a client's reset is the client's business; never crash
    this.#stats.connections++;
    const conn: Conn = { idleSince: this.#clock.now(), requests: 0, answering: false, served: 0, silent: false, timer: undefined };
    this.#conns.set(socket, conn);
    socket.once('close', () => {
      conn.timer?.();
      this.#conns.delete(socket);
    });
    this.#armIdle(socket, conn);
  }

  #armIdle(socket: Socket, conn: Conn): void {
    conn.idleSince = this.#clock.now();
    const { idleCloseMs } = this.#faults;
    if (idleCloseMs > 0) conn.timer = this.#clock.schedule(() => this.#idleClose(socket, conn), idleCloseMs);
  }

  /** The server gives up on an idle connection: a close, a 408 and a close, or silence. */
  #idleClose(socket: Socket, conn: Conn): void {
    if (this.#faults.silentDrop) conn.silent = true;
    else if (this.#faults.idle408) socket.end('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else this.#dropConnection(socket);
  }

  #dropConnection(socket: Socket): void {
    if (this.#faults.closeWith === 'rst') socket.resetAndDestroy();
    else socket.destroy();
  }

  #requestId(req: IncomingMessage): string | undefined {
    const raw = req.headers[this.#faults.idHeader.toLowerCase()];
    return Array.isArray(raw) ? raw[0] : raw;
  }

  #onRequest(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket;
    const id = req.url === STATS_PATH ? undefined : this.#requestId(req);
    if (id !== undefined) this.#stats.receivedById[id] = (this.#stats.receivedById[id] ?? 0) + 1;
    const conn = this.#conns.get(socket);
    if (conn !== undefined) {
      conn.timer?.();
      conn.timer = undefined;
      // The race at the boundary: the server has already decided to close this idle
      // connection when the request lands. It is dropped unanswered and unapplied.
      const { idleCloseMs, raceWindowMs } = this.#faults;
      const idleMs = conn.answering ? 0 : this.#clock.now() - conn.idleSince;
      // Reused: counted as requests arrive, not as responses finish. A client can send its next
      // request before this server's 'finish' for the last response has run (seen under load).
      const reused = conn.requests++ > 0;
      conn.answering = true;
      if (conn.silent || (idleCloseMs > 0 && reused && idleMs >= idleCloseMs - raceWindowMs)) {
        this.#stats.received++;
        this.#stats.dropped++;
        this.#idleClose(socket, conn);
        return;
      }
      const seq = conn.requests;
      res.once('finish', () => {
        conn.served++;
        const { closeAfterResponses } = this.#faults;
        if (closeAfterResponses > 0 && conn.served >= closeAfterResponses) return void socket.destroy();
        if (seq !== conn.requests) return; // a later request already arrived: the connection is not idle
        conn.answering = false;
        if (!socket.destroyed) this.#armIdle(socket, conn);
      });
    }
    if (req.url === STATS_PATH) {
      this.#send(res, 200, JSON.stringify(this.stats()));
      return;
    }
    this.#stats.received++;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    const { resetMidUpload } = this.#faults;
    if (resetMidUpload > 0) req.once('data', () => { if (++this.#uploads % resetMidUpload === 0) socket.resetAndDestroy(); });
    const n = this.#stats.received;
    req.on('end', () => {
      const respond = () => this.#answer(req, res, Buffer.concat(chunks).length);
      const { slowMs, slowTail } = this.#faults;
      const delay = slowMs + (slowTail !== undefined && n % slowTail.every === 0 ? slowTail.ms : 0);
      if (delay > 0) this.#clock.schedule(respond, delay);
      else respond();
    });
  }

  #answer(req: IncomingMessage, res: ServerResponse, bodyBytes: number): void {
    if (res.destroyed || req.socket.destroyed) return; // reset under the request (resetMidUpload): never applied
    const { status } = this.#faults;
    const n = this.#stats.received;
    if (status !== undefined && ((n - 1) % (status.period ?? Number.MAX_SAFE_INTEGER)) < status.count) {
      this.#stats.faulted++;
      if (status.retryAfter !== undefined) res.setHeader('retry-after', status.retryAfter);
      this.#send(res, status.code, JSON.stringify({ error: `injected ${status.code}` }));
      return;
    }
    const method = req.method ?? 'GET';
    this.#stats.processedByMethod[method] = (this.#stats.processedByMethod[method] ?? 0) + 1;
    const id = this.#requestId(req);
    if (id !== undefined) this.#stats.processedById[id] = (this.#stats.processedById[id] ?? 0) + 1;
    const { applyThenReset, cutMidBody } = this.#faults;
    if (applyThenReset > 0 && n % applyThenReset === 0) return void req.socket.resetAndDestroy();
    const payload = JSON.stringify({ ok: true, method, id: id ?? null, bodyBytes });
    if (cutMidBody > 0 && n % cutMidBody === 0) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
      res.write(payload.slice(0, payload.length >> 1), () => req.socket.destroy());
      return;
    }
    this.#send(res, 200, payload);
  }

  #send(res: ServerResponse, statusCode: number, payload: string): void {
    const { idleCloseMs, advertise } = this.#faults;
    if (advertise && idleCloseMs > 0) res.setHeader('keep-alive', `timeout=${Math.floor(idleCloseMs / 1000)}`);
    res.writeHead(statusCode, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) });
    res.end(payload);
  }
}
