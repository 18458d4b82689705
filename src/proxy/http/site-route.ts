import type { ExchangeSettings } from './http-forward.js';
import type { RequestTarget } from './request-target.js';

/** One HTTP route of a site, compiled: a proxy to an upstream, a redirect or a fixed answer. */
export type SiteRoute = { readonly name: string; readonly raw: boolean } & (
  | { readonly kind: 'proxy'; readonly preserveHost: boolean; readonly upgrades: ReadonlySet<string>; readonly exchange: ExchangeSettings }
  | { readonly kind: 'redirect'; readonly location: string; readonly status: number }
  | { readonly kind: 'respond'; readonly status: number; readonly body: Buffer; readonly contentType: string });

const EMPTY = Buffer.alloc(0);

/** The path a route matches and sends: normalized, or as sent for `paths: raw` routes. */
export function pathFor(route: SiteRoute, target: RequestTarget): string {
  return route.raw ? target.rawPath : target.path;
}

/** The answer of a respond or redirect route. Replacer functions: a `$&` in the path must not be read as a replacement pattern. */
export function answerOf(route: Exclude<SiteRoute, { kind: 'proxy' }>, target: RequestTarget): { status: number; headers: Record<string, string | number>; body: Buffer } {
  if (route.kind === 'respond') return { status: route.status, headers: { 'content-type': route.contentType, 'content-length': route.body.length }, body: route.body };
  const path = pathFor(route, target);
  const location = route.location.replace('{host}', () => target.host).replace('{path}', () => path);
  return { status: route.status, headers: { location, 'content-length': 0 }, body: EMPTY };
}
