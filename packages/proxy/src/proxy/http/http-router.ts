import type { HttpRouteConfig } from '../config/http-config.js';

/** Host names as matched: exact ones, and `*.` wildcards matching any depth below their suffix. */
export class HostSet {
  readonly #exact = new Set<string>();
  readonly #suffixes: string[] = [];

  constructor(patterns: readonly string[]) {
    for (const pattern of patterns) {
      if (pattern.startsWith('*.')) this.#suffixes.push(pattern.slice(1)); // "*.example.test" → ".example.test"
      else this.#exact.add(pattern);
    }
  }

  has(host: string): boolean {
    if (this.#exact.has(host)) return true;
    for (const suffix of this.#suffixes) if (host.endsWith(suffix)) return true;
    return false;
  }
}

interface CompiledHttpRoute<T> {
  readonly hosts: HostSet | undefined;
  readonly pathPrefix: string | undefined;
  /** Matched on the path as sent, not the normalized one. */
  readonly raw: boolean;
  readonly value: T;
}

/**
 * An `http`/`terminate` action's routes in file order; the first whose hosts and path prefix
 * match wins. A path prefix matches at a segment boundary or anywhere, as written: `/api`
 * matches `/api`, `/api/x` and `/apix` (as nginx's `location /api`); write `/api/` to exclude
 * `/apix`.
 */
export class HttpRouter<T> {
  readonly #routes: CompiledHttpRoute<T>[];
  /** Every host some route names explicitly: absolute-form targets must name one of them. */
  readonly #named: HostSet;

  constructor(routes: readonly HttpRouteConfig[], build: (route: HttpRouteConfig) => T) {
    this.#routes = routes.map((route) => ({
      hosts: route.match.hosts === undefined ? undefined : new HostSet(route.match.hosts),
      pathPrefix: route.match.pathPrefix,
      raw: route.paths === 'raw',
      value: build(route),
    }));
    this.#named = new HostSet(routes.flatMap((route) => route.match.hosts ?? []));
  }

  /**
   * `host`: lower case, without port. `path`: the request target's path, normalized
   * (request-path.ts), and `rawPath` as sent, for `paths: raw` routes (queries included is fine).
   */
  match(host: string, path: string, rawPath = path): T | undefined {
    for (const route of this.#routes) {
      if (route.hosts !== undefined && !route.hosts.has(host)) continue;
      if (route.pathPrefix !== undefined && !(route.raw ? rawPath : path).startsWith(route.pathPrefix)) continue;
      return route.value;
    }
    return undefined;
  }

  /** Whether some route names `host` explicitly (a catch-all route does not count). */
  names(host: string): boolean {
    return this.#named.has(host);
  }

  get values(): T[] {
    return this.#routes.map((route) => route.value);
  }
}
