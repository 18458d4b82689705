/**
 * Raw header bytes as strings, the same string for the same bytes.
 *
 * Undici hands a response's header names and values over as buffers; Node's `writeHead` wants
 * strings. An upstream sends the same names and mostly the same values in every response
 * (`Content-Type: text/plain`, `Cache-Control: no-store`, `Keep-Alive: timeout=5`), so
 * decoding each one (a call into C++ and a fresh string) is mostly repeated work.
 * A small table keyed by a few of the bytes remembers the last string decoded for each slot;
 * a lookup compares the bytes against it and returns it when they are equal, so a hit is
 * exact, and a miss (or a collision) only costs the decode it would have cost anyway.
 * Names keep the case the upstream sent.
 *
 * Bounded: SLOTS strings of at most MAX_LENGTH bytes (under 300 KiB); longer fields (cookies,
 * long ETags) are decoded every time. A slot holds a string an upstream sent, and is returned
 * only for the very same bytes, so nothing one response carries can change what another says.
 * Set-Cookie values are never put in it (forward-headers.ts): they are secrets, and unique.
 */
const SLOTS = 4096;
const MAX_LENGTH = 64;
const table: (string | undefined)[] = new Array<string | undefined>(SLOTS).fill(undefined);

export function latin1Text(bytes: Buffer): string {
  const length = bytes.length;
  if (length === 0) return '';
  if (length > MAX_LENGTH) return bytes.toString('latin1');
  const slot = (((length * 31 + bytes[0]!) * 31 + bytes[length >> 1]!) * 31 + bytes[length - 1]!) & (SLOTS - 1);
  const known = table[slot];
  if (known !== undefined && known.length === length) {
    let i = 0;
    while (i < length && known.charCodeAt(i) === bytes[i]) i++;
    if (i === length) return known;
  }
  const text = bytes.toString('latin1');
  table[slot] = text;
  return text;
}
