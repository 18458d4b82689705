import { bytesEqualLower, textEqualsLower } from 'holdfast/internal/http/headers.js';
import { latin1Text } from './latin1-text.js';

/**
 * The headers a reverse proxy rewrites, as pure functions over raw `[name, value, …]` lists
 * (the order and repetition clients sent are kept).
 *
 * - Hop-by-hop fields are dropped both ways: those RFC 9110 §7.6.1 names (Connection,
 *   Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, Upgrade), Trailer (this proxy does
 *   not relay trailers), and every field the Connection header lists.
 * - X-Forwarded-For/-Proto/-Host and Forwarded (RFC 7239) from the client are kept, and
 *   appended to, only when the peer is a trusted proxy; from anyone else they are replaced,
 *   so that a client cannot forge its address to the upstream.
 * - Via (RFC 9110 §7.6.3) is appended to in both directions.
 * - Lookalikes of the forwarding fields spelt with underscores (`X_Forwarded_For`, which some
 *   frameworks read as X-Forwarded-For) are dropped, and so is `X-Real-IP` from an untrusted
 *   peer. A Connection header cannot remove the forwarding fields a trusted proxy sent: a
 *   client behind it would erase its own address from the chain.
 */

const HOP_BY_HOP = new Set(['connection', 'proxy-connection', 'keep-alive', 'te', 'transfer-encoding', 'upgrade', 'trailer']);

/** Fields the proxy sets itself on the upstream request (Expect is answered by the proxy's own server). */
const SET_BY_PROXY = new Set(['host', 'expect', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'via']);

/** Kept from a trusted peer only. */
const CLIENT_ADDRESS = new Set(['x-real-ip']);
/** The fields that say who the client is: spelt with an underscore, a field is dropped (isLookalike). */
const FORWARDING = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'forwarded', 'x-real-ip']);

/** `X_Forwarded_For`: a forwarding field with underscores, which CGI-style servers read as the real one. */
function isLookalike(name: string): boolean {
  return name.includes('_') && FORWARDING.has(name.toLowerCase().replaceAll('_', '-'));
}

/**
 * Every name above, and Set-Cookie (never interned), by length. Most fields have a name of another length, or one that differs
 * from the candidates of its length in the first bytes: they pass untouched, without being
 * decoded or lower-cased (this runs for every header of every proxied message).
 */
const SPECIAL_BY_LENGTH: (string[] | undefined)[] = new Array<string[] | undefined>(32).fill(undefined);
for (const name of [...HOP_BY_HOP, ...SET_BY_PROXY, ...CLIENT_ADDRESS, 'set-cookie', 'x-request-id']) (SPECIAL_BY_LENGTH[name.length] ??= []).push(name);

/** The special name (lower case) a decoded field name spells in any case, or undefined. */
function specialText(name: string): string | undefined {
  const candidates = name.length < 32 ? SPECIAL_BY_LENGTH[name.length] : undefined;
  if (candidates === undefined) return undefined;
  for (const candidate of candidates) if (textEqualsLower(name, candidate)) return candidate;
  return undefined;
}

/** specialText for a raw field name. */
function specialBytes(name: Buffer): string | undefined {
  const candidates = name.length < 32 ? SPECIAL_BY_LENGTH[name.length] : undefined;
  if (candidates === undefined) return undefined;
  for (const candidate of candidates) if (bytesEqualLower(name, candidate)) return candidate;
  return undefined;
}

export interface ForwardContext {
  /** The peer's address as the proxy saw it (normalized, no `::ffff:`). */
  clientIp: string;
  /** The peer is in `http.trustedProxies`: its forwarding headers are believed. */
  trusted: boolean;
  proto: 'http' | 'https';
  /** The host the client asked for (its Host, or an absolute-form target's authority). */
  host: string;
  /** `host` as a Forwarded value (quoted when it has a port), if the caller has it already. */
  forwardedHost?: string;
  /** The Host to send upstream; undefined: the target's own `host:port` (undici's default). */
  upstreamHost: string | undefined;
  /** This hop's Via entry: the client's protocol version and the proxy's pseudonym, `1.1 holdfast`. */
  viaEntry: string;
  /** The X-Request-Id to send (the client's, when it was kept, or a new one); undefined: the client's field passes as it is. */
  requestId?: string | undefined;
}

/**
 * Whether a Connection value names anything but keep-alive or close: only then must every
 * field be checked against the names it lists (most clients and upstreams send just
 * `keep-alive`). The two functions below find that out in their one pass over the fields,
 * and start again with the list only when they meet such a value. One function for the
 * client's decoded values, one for the upstream's raw bytes (see bytesEqualLower).
 */
function textNamesOthers(value: string): boolean {
  return !textEqualsLower(value, 'keep-alive') && !textEqualsLower(value, 'close');
}

function bytesNameOthers(value: Buffer): boolean {
  return !bytesEqualLower(value, 'keep-alive') && !bytesEqualLower(value, 'close');
}

/** Field names listed in Connection headers (lower case), or undefined when there are none. */
function connectionOptions(raw: readonly string[]): Set<string> | undefined {
  let options: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length !== 10 || raw[i]!.toLowerCase() !== 'connection') continue;
    for (const token of raw[i + 1]!.split(',')) {
      const name = token.trim().toLowerCase();
      if (name !== '') (options ??= new Set()).add(name);
    }
  }
  return options;
}

/** The upstream request's headers, from the client's raw headers. */
export function upstreamRequestHeaders(raw: readonly string[], ctx: ForwardContext): string[] {
  return upstreamHeaders(raw, ctx, undefined);
}

/** `listed`: the names the client's Connection headers list, once one was seen to list any. */
function upstreamHeaders(raw: readonly string[], ctx: ForwardContext, listed: ReadonlySet<string> | undefined): string[] {
  const out: string[] = [];
  let forwardedFor: string | undefined;
  let forwardedProto: string | undefined;
  let forwardedHost: string | undefined;
  let forwarded: string | undefined;
  let via: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const known = specialText(name);
    if (listed === undefined && known === undefined) {
      if (!isLookalike(name)) out.push(name, value);
      continue;
    }
    if (listed === undefined && known === 'connection' && textNamesOthers(value)) return upstreamHeaders(raw, ctx, connectionOptions(raw) ?? new Set());
    const lower = known ?? name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || isLookalike(lower)) continue;
    if (listed?.has(lower) === true && !SET_BY_PROXY.has(lower)) continue;
    if (lower === 'x-request-id') {
      if (ctx.requestId === undefined) out.push(name, value);
      continue;
    }
    if (CLIENT_ADDRESS.has(lower)) {
      if (ctx.trusted) out.push(name, value);
      continue;
    }
    if (!SET_BY_PROXY.has(lower)) {
      out.push(name, value);
      continue;
    }
    if (lower === 'via') via = via === undefined ? value : `${via}, ${value}`;
    else if (!ctx.trusted) continue;
    else if (lower === 'x-forwarded-for') forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
    else if (lower === 'forwarded') forwarded = forwarded === undefined ? value : `${forwarded}, ${value}`;
    else if (lower === 'x-forwarded-proto') forwardedProto ??= value;
    else if (lower === 'x-forwarded-host') forwardedHost ??= value;
  }
  const element = `for=${forwardedNode(ctx.clientIp)};host=${ctx.forwardedHost ?? forwardedValue(ctx.host)};proto=${ctx.proto}`;
  if (ctx.upstreamHost !== undefined) out.push('host', ctx.upstreamHost);
  if (ctx.requestId !== undefined) out.push('x-request-id', ctx.requestId);
  out.push(
    'x-forwarded-for', forwardedFor === undefined ? ctx.clientIp : `${forwardedFor}, ${ctx.clientIp}`,
    'x-forwarded-proto', forwardedProto ?? ctx.proto,
    'x-forwarded-host', forwardedHost ?? ctx.host,
    'forwarded', forwarded === undefined ? element : `${forwarded}, ${element}`,
    'via', via === undefined ? ctx.viaEntry : `${via}, ${ctx.viaEntry}`,
  );
  return out;
}

/**
 * The response headers for the client, from the upstream's raw header buffers, with this
 * proxy's Via. `keep`: hop-by-hop names to keep (Upgrade and Connection on a 101).
 * A field is decoded only when it is sent on, and through latin1Text, which returns the
 * string it decoded before for the same bytes (most of a response's fields repeat).
 */
export function downstreamResponseHeaders(raw: readonly Buffer[], viaEntry: string, keep?: ReadonlySet<string>): string[] {
  return downstreamHeaders(raw, viaEntry, keep, undefined);
}

function downstreamHeaders(raw: readonly Buffer[], viaEntry: string, keep: ReadonlySet<string> | undefined, listed: ReadonlySet<string> | undefined): string[] {
  const out: string[] = [];
  let via: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const field = raw[i]!;
    const known = specialBytes(field);
    if (listed === undefined && known === undefined) {
      out.push(latin1Text(field), latin1Text(raw[i + 1]!));
      continue;
    }
    if (listed === undefined && keep === undefined && known === 'connection' && bytesNameOthers(raw[i + 1]!)) {
      return downstreamHeaders(raw, viaEntry, keep, connectionOptions(raw.map(latin1Text)) ?? new Set());
    }
    const name = latin1Text(field);
    const lower = known ?? name.toLowerCase();
    if ((HOP_BY_HOP.has(lower) || listed?.has(lower) === true) && keep?.has(lower) !== true) continue;
    // A cookie is decoded afresh: latin1Text would keep the session it carries after the response.
    const value = lower === 'set-cookie' ? raw[i + 1]!.toString('latin1') : latin1Text(raw[i + 1]!);
    if (lower === 'via') {
      via = via === undefined ? value : `${via}, ${value}`;
      continue;
    }
    out.push(name, value);
  }
  out.push('via', via === undefined ? viaEntry : `${via}, ${viaEntry}`);
  return out;
}

/** An RFC 7239 node: IPv6 in brackets, quoted (`"[::1]"`); IPv4 bare. */
function forwardedNode(ip: string): string {
  return ip.includes(':') ? `"[${ip}]"` : ip;
}

/** A token as is, anything else (a host with a port) as a quoted-string. */
export function forwardedValue(value: string): string {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
}
