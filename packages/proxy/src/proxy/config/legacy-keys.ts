/**
 * The config keys that `upstreams:` replaced, found before validation so that an old file gets
 * one line saying where each setting went instead of "unknown field".
 */

export interface LegacyKey {
  /** The field as zod would name it: `routes[0].action.targets`. */
  field: string;
  hint: string;
}

const SEE = 'docs/guides/proxy.md#upstreams';
/** Keys of a route's action that now belong to the upstream it names. */
const UPSTREAM_KEYS = ['targets', 'balance', 'proxyProtocol', 'healthCheck', 'outlier', 'retries', 'connections', 'timeouts'];

/** The first key of the pre-`upstreams:` form in a raw (parsed YAML) config, or undefined. */
export function findLegacyKey(raw: unknown): LegacyKey | undefined {
  const routes = isRecord(raw) && Array.isArray(raw.routes) ? raw.routes : [];
  for (const [i, route] of routes.entries()) {
    if (!isRecord(route)) continue;
    const at = `routes[${i}]`;
    if (isRecord(route.timeouts) && 'connectMs' in route.timeouts) {
      return { field: `${at}.timeouts.connectMs`, hint: `a connect timeout is its upstream's now: set upstreams[].timeouts.connectMs (${SEE})` };
    }
    const action = route.action;
    if (!isRecord(action)) continue;
    if (action.type === 'terminate-reencrypt') {
      return { field: `${at}.action.type`, hint: `terminate-reencrypt is now type: terminate, with a tls: section on the upstream its routes name (${SEE})` };
    }
    if ('upstreamTls' in action) return { field: `${at}.action.upstreamTls`, hint: `upstream TLS settings moved to the upstream's tls: section (${SEE})` };
    const moved = movedKey(action, `${at}.action`);
    if (moved !== undefined) return moved;
    for (const [j, httpRoute] of (Array.isArray(action.routes) ? action.routes : []).entries()) {
      if (isRecord(httpRoute) && isRecord(httpRoute.action)) {
        const inner = movedKey(httpRoute.action, `${at}.action.routes[${j}].action`);
        if (inner !== undefined) return inner;
      }
    }
  }
  return undefined;
}

function movedKey(action: Record<string, unknown>, at: string): LegacyKey | undefined {
  if (action.type !== 'forward' && action.type !== 'passthrough' && action.type !== 'proxy') return undefined;
  const key = UPSTREAM_KEYS.find((k) => k in action);
  if (key === undefined) return undefined;
  return { field: `${at}.${key}`, hint: `${key} moved to a named upstream: add upstreams: [{ name: NAME, targets: [...] }] and write upstream: NAME here (${SEE})` };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
