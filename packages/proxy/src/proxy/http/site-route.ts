import type { ExchangeSettings } from './http-forward.js';
import type { RequestTarget } from './request-target.js';
import type { Rewrite } from './rewrite.js';
import type { RouteRateLimit } from './rate-limit.js';
import type { IncomingMessage } from 'node:http';
import { upstreamRequestHeaders } from './forward-headers.js';
import { withoutPseudoHeaders } from './h2-front.js';
import { recordOf, requestIdFor, type RequestIdMode } from './request-record.js';

/** One HTTP route of a site, compiled: a proxy to an upstream, a redirect or a fixed answer. */
export type SiteRoute = { readonly name: string; readonly raw: boolean; readonly rewrite: Rewrite | undefined; readonly limit: RouteRateLimit | undefined } & (
  | { readonly kind: 'proxy'; readonly preserveHost: boolean; readonly upgrades: ReadonlySet<string>; readonly exchange: ExchangeSettings }
  | { readonly kind: 'redirect'; readonly location: string; readonly status: number }
  | { readonly kind: 'respond'; readonly status: number; readonly body: Buffer; readonly contentType: string });

const EMPTY = Buffer.alloc(0);

/** The path a route sends (and a redirect's `{path}`): normalized, or as sent for `paths: raw` routes, then rewritten. */
export function pathFor(route: SiteRoute, target: RequestTarget): string {
  const path = route.raw ? target.rawPath : target.path;
  return route.rewrite === undefined ? path : route.rewrite.path(path);
}

/** The answer of a respond or redirect route. Replacer functions: a `$&` in the path must not be read as a replacement pattern. */
export function answerOf(route: Exclude<SiteRoute, { kind: 'proxy' }>, target: RequestTarget): { status: number; headers: Record<string, string | number>; body: Buffer } {
  const answer: { status: number; headers: Record<string, string | number>; body: Buffer } = route.kind === 'respond'
    ? { status: route.status, headers: { 'content-type': route.contentType, 'content-length': route.body.length }, body: route.body }
    : { status: route.status, headers: { location: route.location.replace('{host}', () => target.host).replace('{path}', () => pathFor(route, target)), 'content-length': 0 }, body: EMPTY };
  if (route.rewrite !== undefined) answer.headers = route.rewrite.responseRecord(answer.headers);
  return answer;
}

/** What upstreamFields needs of the site: fixed for the site's life, made once. */
export interface SiteFields {
  readonly proto: 'http' | 'https';
  /** `1.1 holdfast`: this hop's Via entry for HTTP/1.1 requests (others name their version). */
  readonly viaEntry: string;
  readonly via: string;
  readonly requestId: RequestIdMode;
}

/** The upstream request's fields: the client's, forwarding fields and X-Request-Id added, then the route's rewrites. */
export function upstreamFields(req: IncomingMessage, ctx: SiteFields, peer: { readonly ip: string; readonly trusted: boolean }, target: RequestTarget, route: Extract<SiteRoute, { kind: 'proxy' }>): string[] {
  const fields = upstreamRequestHeaders(req.httpVersionMajor === 2 ? withoutPseudoHeaders(req.rawHeaders) : req.rawHeaders, {
    clientIp: peer.ip,
    trusted: peer.trusted,
    proto: ctx.proto,
    host: target.authority,
    forwardedHost: target.forwardedHost,
    upstreamHost: route.preserveHost ? target.authority : undefined,
    viaEntry: req.httpVersion === '1.1' ? ctx.viaEntry : `${req.httpVersion} ${ctx.via}`,
    requestId: recordOf(req)?.requestId ?? requestIdFor(req, peer.trusted, ctx.requestId),
  });
  return route.rewrite === undefined ? fields : route.rewrite.requestHeaders(fields);
}
