import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { z } from 'zod';
import { systemClock, type Clock } from '../clock.js';
import { parseOptions } from '../parse-options.js';
import { KeepAliveAlignment, parseKeepAliveHint } from '../policy/keep-alive.js';
import { headerOf } from '../http/headers.js';
import { keepAliveSchema } from './options.js';

export const DEFAULT_AGENT_MAX_SOCKETS = 64;
export const DEFAULT_AGENT_MAX_FREE_SOCKETS = 64;

const agentSchema = z.strictObject({
  /** Sockets per origin; requests beyond wait in the agent's queue. */
  maxSockets: z.number().int().positive().default(DEFAULT_AGENT_MAX_SOCKETS),
  maxFreeSockets: z.number().int().nonnegative().default(DEFAULT_AGENT_MAX_FREE_SOCKETS),
  maxTotalSockets: z.number().int().positive().optional(),
  /** 'fifo' spreads requests over the pool; 'lifo' reuses the most recent socket. */
  scheduling: z.enum(['fifo', 'lifo']).default('fifo'),
  keepAlive: keepAliveSchema.prefault({}),
  /** TLS options for the https agent (ca, rejectUnauthorized, …), passed through. */
  tls: z.record(z.string(), z.unknown()).optional(),
});

export type AgentOptions = z.input<typeof agentSchema>;

function resolveAgentOptions(options: unknown): z.output<typeof agentSchema> {
  return parseOptions(agentSchema, options);
}

/** When a free socket went idle; only sockets in the agent's free list have one. */
const idleSince = new WeakMap<Duplex, number>();
const watched = new WeakSet<Duplex>();

/** A Node agent with holdfast's alignment; `idleLimitMs(host)` shows a host's current limit. */
export type HoldfastAgent<A extends http.Agent = http.Agent> = A & {
  /** The idle limit holdfast uses for `host` (as `host` or `host:port`) now. */
  idleLimitMs(host: string): number;
};

/**
 * Installs keep-alive alignment on an agent through its documented hooks:
 * `keepSocketAlive` sets a free socket's idle timeout to its origin's limit (the
 * agent destroys a free socket when it times out, before the server would close
 * it), `reuseSocket` clears it, and the server's closes of free sockets teach the
 * limit how long it really keeps them.
 */
function align<A extends http.Agent>(agent: A, keepAlive: z.output<typeof agentSchema>['keepAlive'], clock: Clock): HoldfastAgent<A> {
  const states = new Map<string, KeepAliveAlignment>();
  const stateOf = (host: string) => {
    let state = states.get(host);
    if (state === undefined) {
      state = new KeepAliveAlignment(keepAlive);
      states.set(host, state);
    }
    return state;
  };
  const baseReuse = agent.reuseSocket.bind(agent);
  const baseDestroy = agent.destroy.bind(agent);
  let destroyed = false;
  agent.destroy = (): void => {
    destroyed = true;
    baseDestroy();
  };

  agent.keepSocketAlive = (socket: Duplex): boolean => {
    const now = clock.now();
    // Node's own keepSocketAlive reads the request and response the same way (socket._httpMessage).
    const req = (socket as Socket & { _httpMessage?: http.ClientRequest & { res?: http.IncomingMessage } })._httpMessage;
    const tcp = socket as Socket;
    const state = stateOf(hostKey(req, tcp));
    state.observeHint(parseKeepAliveHint(headerOf(req?.res?.headers, 'keep-alive')));
    const limit = state.idleLimitMs(now);
    if (limit <= 0) return false;
    tcp.setKeepAlive(true, 1000);
    tcp.unref();
    tcp.setTimeout(limit); // the agent destroys a free socket on 'timeout'
    idleSince.set(socket, now);
    if (!watched.has(socket)) {
      watched.add(socket);
      learnFromPeerClose(tcp, state, clock, () => destroyed);
    }
    return true;
  };
  agent.reuseSocket = (socket: Duplex, request: http.ClientRequest): void => {
    idleSince.delete(socket);
    (socket as Socket).setTimeout(0);
    baseReuse(socket, request);
  };
  return Object.assign(agent, {
    idleLimitMs: (host: string) => stateOf(host).idleLimitMs(clock.now()),
  });
}

function hostKey(req: http.ClientRequest | undefined, socket: Socket): string {
  const port = socket.remotePort;
  return `${req?.host ?? socket.remoteAddress ?? 'unknown'}:${port ?? ''}`;
}

/**
 * A free socket that the server closed (FIN, reset, or anything it sent while the socket
 * idled) teaches its origin's limit. From Node 22 on, the agent destroys a free socket as
 * soon as anything arrives on it, EOF included, before the socket reports an 'end' or an
 * error (a guard against response-queue poisoning), so the server's close cannot be told
 * from the socket's own events: every close of a socket still in the free list is the
 * server's, except the agent's own, which are known. It retires a free socket when it
 * has idled for the limit (its 'timeout'), and all of them on `agent.destroy()`.
 */
function learnFromPeerClose(socket: Socket, state: KeepAliveAlignment, clock: Clock, agentDestroyed: () => boolean): void {
  let timedOut = false;
  socket.once('timeout', () => { timedOut = true; });
  socket.once('close', () => {
    const since = idleSince.get(socket);
    if (since !== undefined && !timedOut && !agentDestroyed()) state.observeIdleClose(clock.now() - since, clock.now());
  });
}

/**
 * A Node `http.Agent` (or `https.Agent` with `{ https: true }`) for code that is
 * not on undici (axios, got, node:http): keep-alive on, FIFO scheduling, pool
 * limits, and idle sockets retired before the server would close them, by the
 * same rules as `createDispatcher` (server hint, learned close, safe default).
 *
 * @example
 * const agent = createAgent({ maxSockets: 32 });
 * http.get('http://127.0.0.1:8080/', { agent }, (res) => …);
 */
export function createAgent(options?: AgentOptions & { https?: false }, clock?: Clock): HoldfastAgent<http.Agent>;
export function createAgent(options: AgentOptions & { https: true }, clock?: Clock): HoldfastAgent<https.Agent>;
export function createAgent(options: AgentOptions & { https?: boolean } = {}, clock: Clock = systemClock): HoldfastAgent {
  const { https: secure = false, ...rest } = options;
  const resolved = resolveAgentOptions(rest);
  const nodeOptions = {
    keepAlive: true,
    maxSockets: resolved.maxSockets,
    maxFreeSockets: resolved.maxFreeSockets,
    maxTotalSockets: resolved.maxTotalSockets,
    scheduling: resolved.scheduling,
  };
  const agent = secure ? new https.Agent({ ...resolved.tls, ...nodeOptions }) : new http.Agent(nodeOptions);
  return align(agent, resolved.keepAlive, clock);
}
