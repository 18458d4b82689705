import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { rawHeadersOf, type Controller, type Handler } from 'holdfast/internal/client/handler.js';
import { NoUpstreamError, ProxyBadRequestError, RequestAbortedError } from 'holdfast/internal/errors.js';
import { Splice } from '../../net/splice.js';
import { downstreamResponseHeaders } from './forward-headers.js';
import { codeOf, ERROR_HEADER, errorBody, sendError, statusForUpstreamFailure } from './http-errors.js';
import { refusalStatus, type Refusal } from './request-target.js';
import type { ExchangeSettings } from './http-forward.js';

const KEEP_ON_SWITCH = new Set(['upgrade', 'connection']);

/** After one side of a WebSocket closes its half, the other has this long to finish. */
const WEBSOCKET_HALF_CLOSE_MS = 30_000;

/** An HTTP answer written on a raw connection (a route's own answer to an upgrade request), then the connection closes. */
export function answerUpgrade(socket: Duplex, status: number, headers: Record<string, string | number>, body: Buffer): void {
  const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${lines}connection: close\r\n\r\n`);
  socket.end(body);
  socket.once('finish', () => socket.destroy());
}

/**
 * Writes a short HTTP error on a raw connection (an upgrade or CONNECT that is refused, or a
 * request Node's parser rejected) and closes it.
 */
/** A request refused before routing (request-target.ts): 400, or 431, with the holdfast code, then closed. */
export function refuseRequest(res: ServerResponse, reason: Refusal, metrics: { refused(reason: string): void; finished(route: string, status: number, target: string): void }): void {
  const status = refusalStatus(reason);
  metrics.refused(reason);
  metrics.finished('none', status, 'none');
  sendError(res, status, ProxyBadRequestError.code, true);
}

/** CONNECT is a forward proxy's method: 405. */
export function refuseConnect(socket: Duplex, metrics: { refused(reason: string): void }): void {
  metrics.refused('connect');
  refuseUpgrade(socket, 405, ProxyBadRequestError.code);
}

/**
 * A request Node's parser refused (smuggling vectors, oversized headers) or a client too slow
 * with its headers: answered 400, 431 or 408 with the holdfast code, then closed.
 */
export function refuseClientError(err: NodeJS.ErrnoException, socket: Duplex, metrics: { refused(reason: string): void }): void {
  const code = err.code ?? '';
  // Node reports here too a client that reset its connection, or ended it in the middle of a
  // request (HPE_INVALID_EOF_STATE; a reset can reach the parser as an end as well): that
  // client has left, no request was refused (the layer-4 side counts how its connection
  // closed), and there is no one to answer.
  if (code === 'ECONNRESET' || code === 'HPE_INVALID_EOF_STATE' || !socket.writable) {
    socket.destroy();
    return;
  }
  const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
  metrics.refused(status === 408 ? 'timeout' : status === 431 ? 'too-large' : 'bad-request');
  refuseUpgrade(socket, status, ProxyBadRequestError.code);
}

export function refuseUpgrade(socket: Duplex, status: number, code: string): void {
  const body = Buffer.from(errorBody(status, code));
  answerUpgrade(socket, status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': body.length, [ERROR_HEADER]: code }, body);
}

/**
 * Proxies a WebSocket (or other) upgrade: the request goes to a target through the route's
 * dispatcher; on `101 Switching Protocols` the two sockets are spliced together, with their
 * own idle timeout (`http.websocketIdleMs`) and no HTTP timer: the server's keep-alive and
 * request timeouts stopped applying when the connection left HTTP. Any other answer is relayed
 * and the connection closed.
 */
export function upgradeWebSocket(req: IncomingMessage, socket: Duplex, head: Buffer, path: string, headers: string[], settings: ExchangeSettings, idleMs: number): void {
  const { upstream, observer, route } = settings;
  const target = upstream.pick();
  if (target === undefined) {
    observer.finished(route, 503, 'none');
    return refuseUpgrade(socket, 503, new NoUpstreamError(route).code);
  }
  target.inFlight++;
  const sentAt = performance.now();
  let settled = false;
  let relayed = 502;
  let controller: Controller | undefined;
  const onClientClose = () => {
    if (!settled) controller?.abort(new RequestAbortedError());
  };
  socket.once('close', onClientClose);
  const settle = (status: number) => {
    settled = true;
    target.inFlight--;
    socket.removeListener('close', onClientClose);
    observer.finished(route, status, target.address);
  };
  const handler: Handler = {
    onRequestStart(c) {
      controller = c;
      if (socket.destroyed) c.abort(new RequestAbortedError());
    },
    onRequestUpgrade(c, statusCode, _headers, upstream) {
      settle(statusCode);
      if (socket.destroyed) {
        upstream.destroy(); // the client left while the upstream was switching
        return;
      }
      observer.upstreamLatency(route, target.address, (performance.now() - sentAt) / 1000);
      const lines = downstreamResponseHeaders(rawHeadersOf(c), settings.viaEntry, KEEP_ON_SWITCH);
      socket.write(head101(lines));
      if (head.length > 0) upstream.write(head);
      upstream.on('error', ignore);
      const splice = new Splice(socket as Socket, upstream as Socket, { idleMs, halfCloseMs: WEBSOCKET_HALF_CLOSE_MS, lifetimeMs: 0 }, { onHalfClose: ignore, onEnd: ignore }, { clock: settings.clock });
      splice.start([]);
    },
    // Not switched: the upstream's answer (a 401, a 404) goes to the client, then the connection closes.
    onResponseStart(c, statusCode) {
      if (statusCode < 200) return;
      relayed = statusCode;
      const lines = downstreamResponseHeaders(rawHeadersOf(c), settings.viaEntry);
      socket.write(`HTTP/1.1 ${statusCode} ${STATUS_CODES[statusCode] ?? ''}\r\n${joinHeaders(lines)}connection: close\r\n\r\n`);
    },
    onResponseData(c, chunk) {
      if (!socket.write(chunk)) {
        c.pause();
        socket.once('drain', () => c.resume());
      }
    },
    onResponseEnd() {
      settle(relayed);
      socket.end();
    },
    onResponseError(_c, err) {
      if (settled) return;
      settle(statusForUpstreamFailure(err));
      if (socket.destroyed) return;
      refuseUpgrade(socket, statusForUpstreamFailure(err), codeOf(err));
    },
  };
  (socket as Partial<Socket>).setTimeout?.(0);
  const opts: Dispatcher.DispatchOptions = { origin: target.origin, path, method: req.method as Dispatcher.HttpMethod, headers, upgrade: req.headers.upgrade ?? 'websocket' };
  upstream.dispatcher.dispatch(opts, handler);
}

function head101(lines: string[]): string {
  return `HTTP/1.1 101 Switching Protocols\r\n${joinHeaders(lines)}\r\n`;
}

function joinHeaders(lines: string[]): string {
  let out = '';
  for (let i = 0; i < lines.length; i += 2) out += `${lines[i]!}: ${lines[i + 1]!}\r\n`;
  return out;
}

function ignore(): void {}
