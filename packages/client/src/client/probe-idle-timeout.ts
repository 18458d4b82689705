import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { buildConnector, Client } from 'undici';
import { headerOf } from '../http/headers.js';
import { InvalidOptionError, ProbeError } from '../errors.js';
import { DEFAULT_IDLE_TIMEOUT_MS, parseKeepAliveHint, safelyBelow } from '../policy/keep-alive.js';

export const DEFAULT_PROBE_CONNECTIONS = 4;
export const DEFAULT_PROBE_MAX_WAIT_MS = 120_000;
export const DEFAULT_PROBE_REQUEST_TIMEOUT_MS = 10_000;

export interface ProbeOptions {
  /** Connections probed in parallel; connection i is re-used after `maxWaitMs·(i+1)/connections` unless the server closes it first. */
  connections?: number;
  /** The longest any connection is left idle; the whole probe takes about this long at most. */
  maxWaitMs?: number;
  /** Per-request timeout (connect, TLS, response), in ms. */
  requestTimeoutMs?: number;
  /** Extra CA certificates to trust, PEM. */
  ca?: string | Buffer;
  /** Skip TLS certificate verification. Never on by default. */
  insecure?: boolean;
  /** Request headers (e.g. authorization); never reported. */
  headers?: Record<string, string>;
}

/** What one probed connection showed. */
export interface ProbeSample {
  /** How the connection ended: the server closed it (FIN or RST), a re-use after `idleMs` succeeded, or failed. */
  outcome: 'fin' | 'rst' | 'alive' | 'failed';
  /** Idle time at that moment, in ms. */
  idleMs: number;
}

export interface ProbeResult {
  url: string;
  /** The server's `Keep-Alive: timeout=` hint, in ms. */
  advertisedMs: number | undefined;
  /** Idle time after which the server was seen closing connections, in ms. */
  observedIdleMs: number | undefined;
  /** The longest idle time after which a re-use still worked, in ms. */
  keptAtLeastMs: number | undefined;
  /** The idle timeout a client pool should use for this server, in ms. */
  recommendedIdleMs: number;
  samples: ProbeSample[];
  durationMs: number;
}

/** Longer than any probe waits: undici must leave an idle socket to the server, whatever it advertises. */
const NEVER_MS = 2 ** 31 - 1;

/**
 * One probed connection: an undici `Client` holding one socket, which the probe watches
 * itself. (Not a node:http agent: from Node 22 on, the agent destroys an idle pooled socket
 * as soon as anything arrives on it, EOF and resets included, before the socket reports
 * either, so a reset would look like a FIN.)
 */
interface Conn {
  client: Client;
  socket: Socket | undefined;
  /** Connections opened so far: a second one means the first was not re-used. */
  connects: number;
  idleSince: number;
}

function openConnection(url: URL, options: Required<Pick<ProbeOptions, 'requestTimeoutMs'>> & ProbeOptions): Conn {
  const connector = buildConnector({ ca: options.ca, rejectUnauthorized: options.insecure !== true, timeout: options.requestTimeoutMs });
  const conn: Conn = { client: undefined as unknown as Client, socket: undefined, connects: 0, idleSince: performance.now() };
  conn.client = new Client(url.origin, {
    allowH2: false,
    pipelining: 1,
    // The probe watches the server, so undici must not act on the hint itself.
    keepAliveTimeout: NEVER_MS,
    keepAliveMaxTimeout: NEVER_MS,
    keepAliveTimeoutThreshold: -NEVER_MS,
    headersTimeout: options.requestTimeoutMs,
    bodyTimeout: options.requestTimeoutMs,
    connect(opts, callback) {
      connector(opts, (err, socket) => {
        if (socket !== null) {
          conn.socket = socket as Socket;
          conn.connects++;
        }
        (callback as (e: Error | null, s: Socket | null) => void)(err, socket as Socket | null);
      });
    },
  });
  return conn;
}

function describeConnectError(err: NodeJS.ErrnoException, url: URL): ProbeError {
  const where = `${url.hostname}:${url.port || (url.protocol === 'https:' ? 443 : 80)}`;
  const code = err.code ?? '';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return new ProbeError(`DNS lookup failed for ${url.hostname} (${code})`, { cause: err });
  if (code === 'ECONNREFUSED') return new ProbeError(`connection refused by ${where}`, { cause: err });
  if (code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT') return new ProbeError(`no answer from ${where} in time`, { cause: err });
  if (code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT') || code.includes('SELF_SIGNED')) {
    return new ProbeError(`TLS handshake with ${where} failed: ${err.message}`, { cause: err });
  }
  return new ProbeError(`request to ${where} failed: ${code || err.message}`, { cause: err });
}

/** One request on the connection. Resolves with the response's Keep-Alive header once its body is read. */
async function exchange(url: URL, conn: Conn, options: ProbeOptions): Promise<{ keepAlive: string | undefined; reused: boolean }> {
  const connectsBefore = conn.connects;
  const { headers, body } = await conn.client.request({ path: `${url.pathname}${url.search}`, method: 'GET', headers: options.headers });
  await body.dump({ limit: Number.MAX_SAFE_INTEGER });
  conn.idleSince = performance.now();
  return { keepAlive: headerOf(headers, 'keep-alive'), reused: conn.connects === connectsBefore };
}

/** Waits until the connection's socket closes or `untilMs` of idle time has passed, whichever is first. */
function watch(conn: Conn, untilMs: number): Promise<ProbeSample | undefined> {
  const socket = conn.socket;
  if (socket === undefined || socket.destroyed) return Promise.resolve({ outcome: 'fin', idleMs: performance.now() - conn.idleSince });
  return new Promise((resolve) => {
    let reset = false;
    const onError = (err: NodeJS.ErrnoException) => { if (err.code === 'ECONNRESET') reset = true; };
    const onClose = () => finish({ outcome: reset ? 'rst' : 'fin', idleMs: performance.now() - conn.idleSince });
    const timer = setTimeout(() => finish(undefined), Math.max(0, untilMs - (performance.now() - conn.idleSince)));
    function finish(sample: ProbeSample | undefined): void {
      clearTimeout(timer);
      socket?.off('close', onClose);
      socket?.off('error', onError);
      resolve(sample);
    }
    socket.on('error', onError);
    socket.once('close', onClose);
  });
}

async function probeConnection(url: URL, untilMs: number, options: Required<Pick<ProbeOptions, 'requestTimeoutMs'>> & ProbeOptions): Promise<{ hint: string | undefined; sample: ProbeSample }> {
  const conn = openConnection(url, options);
  try {
    const first = await exchange(url, conn, options);
    const closed = await watch(conn, untilMs);
    if (closed !== undefined) return { hint: first.keepAlive, sample: closed };
    const idleMs = performance.now() - conn.idleSince;
    try {
      const again = await exchange(url, conn, options);
      return { hint: first.keepAlive, sample: { outcome: again.reused ? 'alive' : 'fin', idleMs } };
    } catch {
      return { hint: first.keepAlive, sample: { outcome: 'failed', idleMs } };
    }
  } finally {
    await conn.client.destroy();
  }
}

/**
 * Measures how long a server really keeps an idle keep-alive connection open,
 * and what it advertises. Several connections idle in parallel; each is
 * watched for the server's close and re-used at a staggered idle time, which
 * also catches servers (or middleboxes) that drop idle connections silently.
 * Ends as soon as every connection has an answer, and within `maxWaitMs`
 * plus a request.
 *
 * @example
 * const result = await probeIdleTimeout('https://api.example.test/health');
 * result.observedIdleMs;     // e.g. 60_000
 * result.recommendedIdleMs;  // e.g. 59_000
 */
export async function probeIdleTimeout(target: string | URL, options: ProbeOptions = {}): Promise<ProbeResult> {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new InvalidOptionError('url', `not a URL: ${String(target)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidOptionError('url', `expected http: or https:, got ${url.protocol}`);
  const connections = options.connections ?? DEFAULT_PROBE_CONNECTIONS;
  const maxWaitMs = options.maxWaitMs ?? DEFAULT_PROBE_MAX_WAIT_MS;
  if (!Number.isInteger(connections) || connections < 1 || connections > 32) throw new InvalidOptionError('connections', 'expected an integer from 1 to 32');
  if (!Number.isFinite(maxWaitMs) || maxWaitMs < 1) throw new InvalidOptionError('maxWaitMs', 'expected a positive number of ms');
  const resolved = { ...options, requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_PROBE_REQUEST_TIMEOUT_MS };

  const started = performance.now();
  let outcomes;
  try {
    outcomes = await Promise.all(
      Array.from({ length: connections }, (_, i) => probeConnection(url, (maxWaitMs * (i + 1)) / connections, resolved)),
    );
  } catch (err) {
    throw describeConnectError(err as NodeJS.ErrnoException, url);
  }
  return summarize(url, outcomes, performance.now() - started);
}

function summarize(url: URL, outcomes: { hint: string | undefined; sample: ProbeSample }[], durationMs: number): ProbeResult {
  const samples = outcomes.map((o) => ({ ...o.sample, idleMs: Math.round(o.sample.idleMs) }));
  const advertisedMs = parseKeepAliveHint(outcomes.find((o) => o.hint !== undefined)?.hint);
  const closes = samples.filter((s) => s.outcome === 'fin' || s.outcome === 'rst').map((s) => s.idleMs);
  const failures = samples.filter((s) => s.outcome === 'failed').map((s) => s.idleMs);
  const alive = samples.filter((s) => s.outcome === 'alive').map((s) => s.idleMs);
  // A seen close is exact; a failed re-use only bounds the timeout from above.
  const observedIdleMs = closes.length > 0 ? Math.min(...closes) : failures.length > 0 ? Math.min(...failures) : undefined;
  const keptAtLeastMs = alive.length > 0 ? Math.max(...alive) : undefined;
  const known = [advertisedMs, observedIdleMs].filter((v): v is number => v !== undefined);
  const recommendedIdleMs = known.length > 0 ? safelyBelow(Math.min(...known))
    : keptAtLeastMs !== undefined ? Math.max(DEFAULT_IDLE_TIMEOUT_MS, safelyBelow(keptAtLeastMs)) : DEFAULT_IDLE_TIMEOUT_MS;
  return { url: url.href, advertisedMs, observedIdleMs, keptAtLeastMs, recommendedIdleMs, samples, durationMs: Math.round(durationMs) };
}
