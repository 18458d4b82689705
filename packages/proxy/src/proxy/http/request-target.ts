import type { IncomingMessage } from 'node:http';
import type { HttpSettings } from '../config/http-config.js';
import { forwardedValue } from './forward-headers.js';
import { normalizePath } from './request-path.js';

/** Where a request is going: the host routed on (lower case, no port, no trailing dot), the Host to send, the path. */
export interface RequestTarget {
  host: string;
  authority: string;
  /** `authority` as a Forwarded header value. */
  forwardedHost: string;
  /** Normalized (request-path.ts): what `normalized` routes match and send. */
  path: string;
  /** As sent: what `raw` routes match and send. */
  rawPath: string;
}

/**
 * Why a request is refused before routing, as the `reason` of holdfast_proxy_http_refused_total:
 * 400 for all but `too-large` (431).
 */
export type Refusal = 'bad-request' | 'forward-proxy' | 'ambiguous-path' | 'too-large';

/** The status a refusal is answered with. */
export function refusalStatus(refusal: Refusal): number {
  return refusal === 'too-large' ? 431 : 400;
}

/** What a Host header yields, parsed once per distinct value (a site sees few). */
interface ParsedAuthority {
  host: string;
  forwardedHost: string;
}

const AUTHORITY_CACHE_SIZE = 1024;
const HOST = /^(?:\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(?::\d{1,5})?$/i;

/**
 * A request's target, checked: the checks a reverse proxy makes before routing that Node's
 * parser does not (issue 19).
 * - HTTP/0.9, and HTTP/1.1 without a Host or with an empty one: 400.
 * - A Transfer-Encoding other than `chunked` alone (`gzip, chunked`): 400, as the coding
 *   would be dropped on the way.
 * - More header fields than `http.maxHeaderFields`: 431 (Node's own count drops the rest
 *   silently, a body or an Authorization among them).
 * - An ambiguous path encoding (request-path.ts): 400 unless `http.ambiguousPaths: allow`.
 * - An absolute-form target (`GET http://host/ HTTP/1.1`) is what a forward proxy receives:
 *   served only for hosts a route names, so this proxy can never reach anything else.
 */
export class RequestTargets {
  readonly #names: (host: string) => boolean;
  readonly #settings: HttpSettings;
  /** Host header values seen, parsed; emptied when it reaches AUTHORITY_CACHE_SIZE (clients choose these values). */
  readonly #authorities = new Map<string, ParsedAuthority>();

  /** `names`: whether some route names a host explicitly. */
  constructor(names: (host: string) => boolean, settings: HttpSettings) {
    this.#names = names;
    this.#settings = settings;
  }

  of(req: IncomingMessage): RequestTarget | Refusal {
    const h2 = req.httpVersionMajor === 2;
    if (req.httpVersionMajor !== 1 && !h2) return 'bad-request';
    if (h2 && !wellFormedH2(req.rawHeaders)) return 'bad-request';
    if (req.rawHeaders.length / 2 > this.#settings.maxHeaderFields + (h2 ? 4 : 0)) return 'too-large';
    const te = req.headers['transfer-encoding'];
    if (te !== undefined && te.trim().toLowerCase() !== 'chunked') return 'bad-request';
    const url = req.url ?? '';
    let target: Omit<RequestTarget, 'path'>;
    if (url.startsWith('/')) {
      const authority = h2 ? h2Authority(req) : req.headers.host ?? '';
      if (authority === undefined) return 'bad-request';
      if (authority === '' && req.httpVersionMinor >= 1) return 'bad-request';
      const parsed = this.#authority(authority);
      if (parsed === undefined) return 'bad-request'; // not a host[:port]
      target = { host: parsed.host, authority, forwardedHost: parsed.forwardedHost, rawPath: url };
    } else {
      if (!/^https?:\/\//i.test(url)) return 'bad-request'; // neither a path nor an absolute URL
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        return 'bad-request';
      }
      const host = withoutTrailingDot(parsed.hostname.toLowerCase());
      if (!this.#names(host)) return 'forward-proxy'; // a host no route names
      target = { host, authority: parsed.host, forwardedHost: forwardedValue(parsed.host), rawPath: `${parsed.pathname}${parsed.search}` };
    }
    const normalized = normalizePath(target.rawPath, this.#settings.ambiguousPaths === 'allow');
    if (normalized === 'ambiguous') return 'ambiguous-path';
    return { ...target, path: normalized.path };
  }

  /** A Host value checked and split once; undefined when it is not a host[:port]. */
  #authority(authority: string): ParsedAuthority | undefined {
    let parsed = this.#authorities.get(authority);
    if (parsed !== undefined) return parsed;
    if (authority !== '' && !HOST.test(authority)) return undefined;
    if (this.#authorities.size >= AUTHORITY_CACHE_SIZE) this.#authorities.clear();
    parsed = { host: hostOf(authority), forwardedHost: forwardedValue(authority) };
    this.#authorities.set(authority, parsed);
    return parsed;
  }
}

/** RFC 9113 §8.2.2: fields that only mean something on an HTTP/1.1 connection. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
const H2_NAME = /^:?[a-z0-9!#$%&'*+.^_`|~-]+$/;
const BAD_VALUE = /[\r\n\0]|^[ \t]|[ \t]$/;

/**
 * An HTTP/2 request's fields, as RFC 9113 §8.2 wants them before any goes on as HTTP/1.1
 * (downgrade smuggling): lower-case token names, no CR, LF or NUL in a value and no space
 * around it, no connection-specific field, `te` only as `trailers`. nghttp2 lets a CR
 * through, and undici would send it upstream.
 */
function wellFormedH2(raw: readonly string[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (!H2_NAME.test(name) || BAD_VALUE.test(value) || CONNECTION_SPECIFIC.has(name)) return false;
    if (name === 'te' && value !== 'trailers') return false;
  }
  return true;
}

/**
 * An HTTP/2 request's authority (RFC 9113 §8.3.1): `:authority`, or Host without it; both,
 * differing, is malformed (a request that could be routed on one and answered for the
 * other), as is a request with neither.
 */
function h2Authority(req: IncomingMessage): string | undefined {
  const pseudo = req.headers[':authority'] as string | undefined;
  const host = req.headers.host;
  if (pseudo !== undefined && host !== undefined && pseudo !== host) return undefined;
  const authority = pseudo ?? host;
  return authority === '' ? undefined : authority;
}

/** `Example.test.:8080` → `example.test`; `[::1]:80` → `::1`. A trailing dot names the same host (RFC 1034 §3.1). */
function hostOf(authority: string): string {
  if (authority.startsWith('[')) return authority.slice(1, authority.indexOf(']')).toLowerCase();
  const colon = authority.lastIndexOf(':');
  return withoutTrailingDot((colon < 0 ? authority : authority.slice(0, colon)).toLowerCase());
}

function withoutTrailingDot(host: string): string {
  return host.endsWith('.') ? host.slice(0, -1) : host;
}
