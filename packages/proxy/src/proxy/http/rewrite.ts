import type { RewriteConfig } from '../config/rewrite-config.js';

/** A route's rewrites, compiled once per config; a route without `rewrite:` has none and pays nothing. */
export interface Rewrite {
  /** The path sent upstream. */
  path(path: string): string;
  /** Edits the upstream request's fields (flat name, value pairs) in place of the array. */
  requestHeaders(fields: string[]): string[];
  /** Edits response fields (flat name, value pairs). */
  responseHeaders(fields: string[]): string[];
  /** Edits a response fields object (the proxy's own answers: respond, redirect). */
  responseRecord(headers: Record<string, string | number>): Record<string, string | number>;
}

export function compileRewrite(config: RewriteConfig | undefined): Rewrite | undefined {
  if (config === undefined) return undefined;
  const request = config.requestHeaders;
  const requestSet = Object.entries(request?.set ?? {});
  if (config.host !== undefined) requestSet.push(['host', config.host]);
  const requestAdd = Object.entries(request?.add ?? {});
  const requestDrop = new Set([...(request?.remove ?? []), ...requestSet.map(([name]) => name)]);
  const responseSet = Object.entries(config.responseHeaders?.set ?? {});
  const responseDrop = new Set([...(config.responseHeaders?.remove ?? []), ...responseSet.map(([name]) => name)]);
  return {
    path: pathRewrite(config.path),
    requestHeaders: (fields) => edit(fields, requestDrop, [...requestSet, ...requestAdd]),
    responseHeaders: (fields) => edit(fields, responseDrop, responseSet),
    responseRecord(headers) {
      const out: Record<string, string | number> = {};
      for (const [name, value] of Object.entries(headers)) if (!responseDrop.has(name.toLowerCase())) out[name] = value;
      for (const [name, value] of responseSet) out[name] = value;
      return out;
    },
  };
}

function edit(fields: string[], drop: ReadonlySet<string>, append: readonly [string, string][]): string[] {
  const out: string[] = [];
  for (let i = 0; i < fields.length; i += 2) if (drop.size === 0 || !drop.has(fields[i]!.toLowerCase())) out.push(fields[i]!, fields[i + 1]!);
  for (const [name, value] of append) out.push(name, value);
  return out;
}

/** Prefix strip or replace, on whole segments' text as matched (the query is kept). */
function pathRewrite(path: RewriteConfig['path']): (path: string) => string {
  if (path === undefined) return (p) => p;
  const [from, to] = 'stripPrefix' in path ? [path.stripPrefix, '/'] : [path.replacePrefix.from, path.replacePrefix.to];
  return (p) => {
    if (!p.startsWith(from)) return p;
    const rest = p.slice(from.length);
    // `/api` stripped from `/api/x` leaves `/x`; from `/api?q` or `/api` it leaves `/?q` or `/`.
    if (to.endsWith('/') && rest.startsWith('/')) return `${to}${rest.slice(1)}`;
    return rest === '' || rest.startsWith('/') || rest.startsWith('?') || to.endsWith('/') ? `${to}${rest}` : `${to}/${rest}`;
  };
}
