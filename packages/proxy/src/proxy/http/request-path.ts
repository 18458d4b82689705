/**
 * A request path as routes match it. `normalized` (the default) undoes the encodings that would
 * let a path slip past a route that denies it (nginx normalizes the same way before matching
 * a `location`): percent-encoded unreserved characters are decoded (`/%61dmin` is `/admin`),
 * duplicate slashes are merged (`//admin`), and dot segments are resolved (`/./admin`,
 * `/x/../admin`) per RFC 3986 §5.2.4 and §6.2.2. The query is left as sent.
 *
 * An encoding whose meaning differs between servers is `ambiguous` and refused with 400 by
 * default: an encoded slash (`%2F`) or backslash (`%5C`), a NUL (`%00`), and a raw backslash
 * (some servers take it for a slash).
 */

/** Percent-encoded octets of unreserved characters (RFC 3986 §2.3): ALPHA DIGIT - . _ ~. */
const UNRESERVED = /%(4[1-9A-F]|5[0-9A]|6[1-9A-F]|7[0-9A]|3[0-9]|2D|2E|5F|7E)/gi;
/** Nothing to normalize: no percent sign, no double slash, no dot segment, no backslash. */
const PLAIN = /^[^%\\]*$/;
const AMBIGUOUS = /%(2F|5C|00)|\\/i;

export type NormalizedPath = { path: string } | 'ambiguous';

/** `target`: the request target's path and query, as sent (`/a/../b?x=1`). `allowAmbiguous`: normalize around them instead. */
export function normalizePath(target: string, allowAmbiguous = false): NormalizedPath {
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q);
  if (!allowAmbiguous && AMBIGUOUS.test(path)) return 'ambiguous';
  if (PLAIN.test(path) && !path.includes('//') && !path.includes('/.')) return { path: target };
  const decoded = path.replace(UNRESERVED, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return { path: removeDotSegments(decoded.replace(/\/{2,}/g, '/')) + query };
}

/** RFC 3986 §5.2.4, for an absolute path: `.` segments go, `..` removes the segment before it (never above the root). */
function removeDotSegments(path: string): string {
  const out: string[] = [];
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    const last = i === segments.length - 1;
    if (segment === '.' || segment === '..') {
      if (segment === '..') out.pop();
      if (last) out.push(''); // `/a/..` is `/`, `/a/.` is `/a/`: the path ends with a slash
      continue;
    }
    out.push(segment);
  }
  return `/${out.join('/')}`;
}
