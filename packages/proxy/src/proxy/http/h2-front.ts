import http2, { type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Clock } from 'holdfast/internal/clock.js';
import type { HttpSettings } from '../config/http-config.js';

/** What an HTTP/2 session reports: its opening and closing, and why an abusive one was cut off. */
export interface H2Hooks {
  /** A connection was served as HTTP/1.1 or HTTP/2. */
  protocol(protocol: 'http/1.1' | 'h2'): void;
  /** A session was closed for abuse: `glitches` (rapid resets, refused or invalid frames) or a flood nghttp2 caught. */
  abusive(reason: string): void;
}

const { NGHTTP2_ENHANCE_YOUR_CALM } = http2.constants;

/**
 * How long a session cut off for abuse may still send (read and dropped) after its GOAWAY,
 * before its connection is destroyed: time for the GOAWAY to reach the client (nginx's
 * lingering close, for the same reason).
 */
export const ABUSE_LINGER_MS = 1000;

/**
 * A client that sent FIN can no longer open a flow-control window: a stream whose response
 * waits for one would never finish. Streams in flight get this long, then the connection is
 * destroyed (nginx closes an HTTP/2 connection at the client's FIN).
 */
export const CLIENT_FIN_GRACE_MS = 1000;

/** RFC 9113 §3.4: an h2c connection with prior knowledge opens with this. */
const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** Whether a connection's first bytes are (the start of) the HTTP/2 preface: no HTTP/1 request begins `PRI `. */
export function isPreface(first: Buffer): boolean {
  const n = Math.min(first.length, H2_PREFACE.length);
  return n >= 4 && first.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
}

/** HTTP/2's pseudo-header fields (`:method`, `:path`, `:authority`, `:scheme`) are not sent upstream as fields. */
export function withoutPseudoHeaders(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (!raw[i]!.startsWith(':')) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

interface SessionState<P> {
  readonly session: ServerHttp2Session;
  readonly front: H2Front<P>;
  readonly peer: P;
  /** The connection under the session: destroyed ABUSE_LINGER_MS after an abusive session's GOAWAY. */
  readonly socket: Duplex;
  glitches: number;
}

const SESSION_STATE = Symbol('holdfast.h2-session');
type StreamWithState<P> = ServerHttp2Stream & { [SESSION_STATE]?: SessionState<P> | undefined };

/** A stream closed: reset by the client before its response started, it is a glitch of its session. */
function onStreamClose(this: StreamWithState<unknown>): void {
  if (this.rstCode === 0 || this.headersSent) return;
  const state = this[SESSION_STATE];
  state?.front.glitch(state);
}

/**
 * HTTP/2 toward clients for one HTTP site: Node's http2 server (nghttp2), fed the site's
 * connections that negotiated h2 by ALPN (or opened with the h2c preface), its requests
 * answered by the same routes, actions and upstream pools as HTTP/1.1 through the
 * compatibility API.
 *
 * Protections, as nginx, HAProxy and Envoy have them:
 * - nghttp2 refuses what would smuggle in a downgrade to HTTP/1.1: connection-specific
 *   fields (`connection`, `transfer-encoding`, `keep-alive`, `upgrade`), CR, LF or NUL in a
 *   value, upper-case names, and a `content-length` the DATA frames do not match;
 * - `maxConcurrentStreams` and the header-list size limit (`http.maxHeaderBytes`), advertised
 *   in SETTINGS and enforced;
 * - glitches (HAProxy's word): a stream the client resets before its response started (rapid
 *   reset, CVE-2023-44487), a refused stream, an invalid frame. Past `maxGlitches` in one
 *   session it gets GOAWAY ENHANCE_YOUR_CALM and is closed; nghttp2's own limits (CONTINUATION
 *   frames, CVE-2024-27316; outstanding PINGs and SETTINGS; the RST_STREAM rate, 1000 at once
 *   then 33/s) close a session that floods first.
 * - `drain()` sends every session a GOAWAY: streams in flight finish, no new one is taken.
 */
export class H2Front<P> {
  readonly #server: http2.Http2Server;
  readonly #sessions = new Map<ServerHttp2Session, SessionState<P>>();
  readonly #hooks: H2Hooks;
  readonly #maxGlitches: number;
  readonly #clock: Clock;
  /** The connection being handed over and its peer: the session made for it, in the same tick, takes them. */
  #accepting: { socket: Duplex; peer: P } | undefined;
  /** The session made for the connection being handed over. */
  #made: ServerHttp2Session | undefined;
  #draining = false;

  constructor(settings: HttpSettings, hooks: H2Hooks, clock: Clock, onRequest: (req: Http2ServerRequest, res: Http2ServerResponse) => void) {
    const { maxConcurrentStreams, maxGlitches } = settings.http2;
    this.#hooks = hooks;
    this.#clock = clock;
    this.#maxGlitches = maxGlitches;
    this.#server = http2.createServer({
      settings: { maxConcurrentStreams, maxHeaderListSize: settings.maxHeaderBytes, enablePush: false },
      // The pseudo-headers (4) are pairs too: maxHeaderFields counts the regular ones, as for HTTP/1.1.
      maxHeaderListPairs: settings.maxHeaderFields + 4,
      maxSessionInvalidFrames: maxGlitches,
      maxSessionRejectedStreams: maxGlitches,
      maxOutstandingPings: 10,
      maxSettings: 32,
    });
    this.#server.setTimeout(settings.keepAliveMs); // an idle session is closed, as an idle keep-alive connection is
    this.#server.on('session', this.#onSession);
    this.#server.on('request', onRequest);
    this.#server.on('stream', this.#onStream);
    this.#server.on('sessionError', () => {}); // counted on the session ('error'); the socket's close ends it
  }

  /** Serves HTTP/2 on a connection (decrypted, or cleartext with prior knowledge). */
  accept(socket: Duplex, peer: P): void {
    this.#accepting = { socket, peer };
    this.#made = undefined;
    try {
      this.#server.emit('connection', socket);
    } finally {
      this.#accepting = undefined;
    }
    const session = this.#made as ServerHttp2Session | undefined; // set by #onSession, inside emit()
    if (session === undefined) return;
    // The proxy's sockets allow half-open connections, which HTTP/2 has no use for: a client's
    // FIN ends the session once its streams are done (else it would idle until the timeout), or
    // CLIENT_FIN_GRACE_MS later (a stream waiting for a window the client cannot open again).
    socket.once('end', () => {
      session.close();
      this.#destroyAfter(socket, CLIENT_FIN_GRACE_MS);
    });
    if (this.#draining) session.close();
  }

  /** The peer of a request's connection. */
  peerOf(req: Http2ServerRequest): P | undefined {
    return this.#sessions.get(req.stream.session as ServerHttp2Session)?.peer;
  }

  /** GOAWAY to every session: streams in flight finish, then each session closes. */
  drain(): void {
    this.#draining = true;
    for (const session of this.#sessions.keys()) session.close();
  }

  /** Ends every session now. */
  close(): void {
    this.#draining = true;
    for (const session of this.#sessions.keys()) session.destroy();
    this.#server.close();
  }

  readonly #onSession = (session: ServerHttp2Session): void => {
    const state: SessionState<P> = { ...this.#accepting!, glitches: 0, session, front: this };
    this.#sessions.set(session, state);
    this.#made = session;
    this.#hooks.protocol('h2');
    session.once('close', () => this.#sessions.delete(session));
    session.on('frameError', () => this.glitch(state));
    session.on('error', (err: NodeJS.ErrnoException) => {
      // nghttp2 caught a flood (CONTINUATION, PING, SETTINGS, RST_STREAM rate) or a protocol error.
      this.#hooks.abusive(err.code === 'ERR_HTTP2_ERROR' ? 'protocol-error' : (err.code ?? 'error').toLowerCase().replace(/^err_http2_/, ''));
    });
  };

  /**
   * A stream the client resets before its response started is a rapid reset: a glitch. One
   * shared listener for every stream (no closure per stream); the stream carries its session's
   * state, since a closed stream no longer knows its session.
   */
  readonly #onStream = (stream: ServerHttp2Stream): void => {
    (stream as StreamWithState<P>)[SESSION_STATE] = this.#sessions.get(stream.session as ServerHttp2Session);
    stream.on('close', onStreamClose);
  };

  glitch(state: SessionState<P>): void {
    const session = state.session;
    if (++state.glitches <= this.#maxGlitches || session.destroyed) return;
    this.#hooks.abusive('glitches');
    // Not destroy(): that closes the socket with the client's flood still unread, and the
    // kernel answers unread data with a RST that throws away the GOAWAY not yet sent. So the
    // GOAWAY goes out, no new stream is taken, the socket is ended once the streams in flight
    // are done (Node reads and drops what still comes), and destroyed ABUSE_LINGER_MS later.
    session.goaway(NGHTTP2_ENHANCE_YOUR_CALM);
    session.close();
    this.#destroyAfter(state.socket, ABUSE_LINGER_MS);
  }

  /** Destroys `socket` in `ms`, unless it closed by then. */
  #destroyAfter(socket: Duplex, ms: number): void {
    if (socket.destroyed) return;
    socket.once('close', this.#clock.schedule(() => socket.destroy(), ms));
  }
}
