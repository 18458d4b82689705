import type { Dispatcher } from 'undici';

/**
 * Header facts shared by the client and the proxy (docs/architecture.md: `http` depends
 * on nothing of ours): reading one header from any shape undici takes, and comparing raw
 * header bytes without decoding them.
 */

/** Response headers as undici 8 hands them to a handler: parsed once, keys in lower case. */
export type ParsedHeaders = Record<string, string | string[] | undefined>;

/** One header's value from parsed headers (`name` in lower case): the first, when it was sent several times. */
export function headerOf(headers: ParsedHeaders | null | undefined, name: string): string | undefined {
  const value = headers?.[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Reads one header from any shape undici accepts: object, flat array or iterable of pairs. */
export function headerValue(headers: Dispatcher.DispatchOptions['headers'], name: string): string | undefined {
  if (headers == null) return undefined;
  const wanted = name.toLowerCase();
  if (Array.isArray(headers)) {
    for (let i = 0; i + 1 < headers.length; i += 2) {
      if (String(headers[i]).toLowerCase() === wanted) return String(headers[i + 1]);
    }
    return undefined;
  }
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') {
    for (const pair of headers as Iterable<[string, string | string[] | undefined]>) {
      if (pair[0].toLowerCase() === wanted && pair[1] !== undefined) return String(pair[1]);
    }
    return undefined;
  }
  for (const [key, value] of Object.entries(headers as Record<string, string | string[] | undefined>)) {
    if (key.toLowerCase() === wanted && value !== undefined) return String(value);
  }
  return undefined;
}

/** `headers` (any shape undici accepts) with `extra` added, unless a header of the same name is there already. */
export function withHeaders(headers: Dispatcher.DispatchOptions['headers'], extra: Record<string, string>): Dispatcher.DispatchOptions['headers'] {
  const added = Object.entries(extra).filter(([name]) => headerValue(headers, name) === undefined);
  if (added.length === 0) return headers;
  if (headers == null) return Object.fromEntries(added);
  if (Array.isArray(headers)) return [...headers, ...added.flat()];
  if (typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') return [...(headers as Iterable<[string, string]>), ...added].flat();
  return { ...(headers as Record<string, string>), ...Object.fromEntries(added) };
}

/**
 * Compares raw header bytes (a name or a value) to a lower-case ASCII word,
 * case-insensitively, without decoding them. Its twin for decoded text is
 * textEqualsLower: one function over both types would see strings and buffers at the
 * same property loads, and V8 then leaves them generic in every caller it is inlined
 * into (seen in the proxy's profile: docs/guides/proxy.md#cpu-per-request).
 */
export function bytesEqualLower(raw: Buffer, lower: string): boolean {
  if (raw.length !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const code = raw[i]!;
    const want = lower.charCodeAt(i);
    if (code !== want && (code | 0x20) !== want) return false;
  }
  return true;
}

/** bytesEqualLower for a decoded header name or value. */
export function textEqualsLower(raw: string, lower: string): boolean {
  if (raw.length !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const code = raw.charCodeAt(i);
    const want = lower.charCodeAt(i);
    if (code !== want && (code | 0x20) !== want) return false;
  }
  return true;
}

/**
 * Raw headers as buffers. Undici passes buffers; a list of strings (from a handler
 * written by hand) is encoded once, so that the code reading them sees one type.
 */
export function headerBytes(headers: readonly (Buffer | string)[] | null): Buffer[] {
  if (headers === null) return [];
  if (headers.length === 0 || typeof headers[0] !== 'string') return headers as Buffer[];
  return headers.map((field) => (typeof field === 'string' ? Buffer.from(field, 'latin1') : field));
}
