import { isIP, type Socket } from 'node:net';
import { normalizeAddress } from './address.js';

/**
 * The PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy specifies it
 * (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt): the header a proxy
 * sends first on a connection to tell the next hop who the client really is.
 */

/** The connection a header describes. */
export interface ProxiedAddresses {
  family: 'IPv4' | 'IPv6';
  sourceAddress: string;
  sourcePort: number;
  destinationAddress: string;
  destinationPort: number;
}

/** A connected socket's own addresses, as a PROXY header carries them (IPv4 only when both ends are). */
export function addressesOf(socket: Socket): ProxiedAddresses | undefined {
  const { remoteAddress, remotePort, localAddress, localPort } = socket;
  if (remoteAddress === undefined || localAddress === undefined) return undefined;
  const source = normalizeAddress(remoteAddress);
  const destination = normalizeAddress(localAddress);
  const v4 = !source.includes(':') && !destination.includes(':');
  return {
    family: v4 ? 'IPv4' : 'IPv6',
    sourceAddress: v4 || source.includes(':') ? source : `::ffff:${source}`,
    destinationAddress: v4 || destination.includes(':') ? destination : `::ffff:${destination}`,
    sourcePort: remotePort ?? 0,
    destinationPort: localPort ?? 0,
  };
}

export type ProxyHeaderResult =
  | { kind: 'incomplete' }
  /** `addresses` is undefined for v1 `UNKNOWN`, v2 `LOCAL` and families other than TCP over IP. */
  | { kind: 'header'; version: 1 | 2; addresses: ProxiedAddresses | undefined; length: number }
  | { kind: 'rejected'; detail: string };

const V1_PREFIX = Buffer.from('PROXY ');
const V1_MAX = 107; // §2.1: the longest v1 line, CRLF included
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_HEADER = 16;
/** TLVs may follow the addresses; a bound keeps a hostile peer from making us buffer 64 KiB. */
const V2_MAX_LENGTH = 1024;

/** The v1 line for `addresses`, or `PROXY UNKNOWN` when undefined. */
export function encodeProxyV1(addresses: ProxiedAddresses | undefined): Buffer {
  if (addresses === undefined) return Buffer.from('PROXY UNKNOWN\r\n');
  const { family, sourceAddress, destinationAddress, sourcePort, destinationPort } = addresses;
  return Buffer.from(`PROXY ${family === 'IPv4' ? 'TCP4' : 'TCP6'} ${sourceAddress} ${destinationAddress} ${sourcePort} ${destinationPort}\r\n`);
}

/** The v2 header for `addresses` (command PROXY over TCP), or a LOCAL header when undefined. */
export function encodeProxyV2(addresses: ProxiedAddresses | undefined): Buffer {
  if (addresses === undefined) return Buffer.concat([V2_SIGNATURE, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  const v4 = addresses.family === 'IPv4';
  const size = v4 ? 12 : 36;
  const header = Buffer.alloc(V2_HEADER + size);
  V2_SIGNATURE.copy(header);
  header[12] = 0x21; // version 2, command PROXY
  header[13] = v4 ? 0x11 : 0x21; // AF_INET or AF_INET6, over STREAM
  header.writeUInt16BE(size, 14);
  const width = v4 ? 4 : 16;
  writeAddress(header, V2_HEADER, addresses.sourceAddress, v4);
  writeAddress(header, V2_HEADER + width, addresses.destinationAddress, v4);
  header.writeUInt16BE(addresses.sourcePort, V2_HEADER + 2 * width);
  header.writeUInt16BE(addresses.destinationPort, V2_HEADER + 2 * width + 2);
  return header;
}

/**
 * Reads a v1 or v2 header at the start of `bytes` (everything received so far). Anything
 * else is rejected: a peer trusted to send the header must send it.
 */
export function readProxyHeader(bytes: Buffer): ProxyHeaderResult {
  if (startsLike(bytes, V2_SIGNATURE)) return bytes.length < V2_HEADER ? { kind: 'incomplete' } : readV2(bytes);
  if (startsLike(bytes, V1_PREFIX)) return bytes.length < V1_PREFIX.length ? { kind: 'incomplete' } : readV1(bytes);
  return { kind: 'rejected', detail: 'no PROXY protocol header' };
}

/** True when `bytes` and `prefix` agree over their common length. */
function startsLike(bytes: Buffer, prefix: Buffer): boolean {
  const n = Math.min(bytes.length, prefix.length);
  return bytes.subarray(0, n).equals(prefix.subarray(0, n));
}

function readV1(bytes: Buffer): ProxyHeaderResult {
  const end = bytes.subarray(0, V1_MAX).indexOf('\r\n');
  if (end === -1) return bytes.length >= V1_MAX ? { kind: 'rejected', detail: 'v1 line longer than 107 bytes' } : { kind: 'incomplete' };
  const fields = bytes.toString('latin1', 0, end).split(' ');
  const length = end + 2;
  if (fields[1] === 'UNKNOWN') return { kind: 'header', version: 1, addresses: undefined, length };
  if (fields.length !== 6 || (fields[1] !== 'TCP4' && fields[1] !== 'TCP6')) return { kind: 'rejected', detail: 'v1 line is not "PROXY TCP4|TCP6 src dst sport dport"' };
  const family = fields[1] === 'TCP4' ? 'IPv4' : 'IPv6';
  const want = family === 'IPv4' ? 4 : 6;
  const [sourceAddress, destinationAddress] = [fields[2]!, fields[3]!];
  if (isIP(sourceAddress) !== want || isIP(destinationAddress) !== want) return { kind: 'rejected', detail: `v1 addresses are not ${family}` };
  const [sourcePort, destinationPort] = [parsePort(fields[4]!), parsePort(fields[5]!)];
  if (sourcePort === undefined || destinationPort === undefined) return { kind: 'rejected', detail: 'v1 ports are not 0-65535' };
  return { kind: 'header', version: 1, addresses: { family, sourceAddress, sourcePort, destinationAddress, destinationPort }, length };
}

function parsePort(text: string): number | undefined {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

function readV2(bytes: Buffer): ProxyHeaderResult {
  const versionCommand = bytes[12]!;
  if (versionCommand >> 4 !== 2) return { kind: 'rejected', detail: `v2 version nibble ${versionCommand >> 4}` };
  const command = versionCommand & 0x0f;
  if (command > 1) return { kind: 'rejected', detail: `v2 command ${command}` };
  const size = bytes.readUInt16BE(14);
  if (size > V2_MAX_LENGTH) return { kind: 'rejected', detail: `v2 header of ${size} bytes exceeds ${V2_MAX_LENGTH}` };
  const length = V2_HEADER + size;
  if (bytes.length < length) return { kind: 'incomplete' };
  const familyProtocol = bytes[13]!;
  if (command === 0 || (familyProtocol !== 0x11 && familyProtocol !== 0x21)) return { kind: 'header', version: 2, addresses: undefined, length };
  const v4 = familyProtocol === 0x11;
  const width = v4 ? 4 : 16;
  if (size < 2 * width + 4) return { kind: 'rejected', detail: `v2 address block of ${size} bytes is too short` };
  const at = V2_HEADER;
  return {
    kind: 'header',
    version: 2,
    addresses: {
      family: v4 ? 'IPv4' : 'IPv6',
      sourceAddress: readAddress(bytes, at, v4),
      destinationAddress: readAddress(bytes, at + width, v4),
      sourcePort: bytes.readUInt16BE(at + 2 * width),
      destinationPort: bytes.readUInt16BE(at + 2 * width + 2),
    },
    length,
  };
}

function readAddress(bytes: Buffer, at: number, v4: boolean): string {
  if (v4) return `${bytes[at]!}.${bytes[at + 1]!}.${bytes[at + 2]!}.${bytes[at + 3]!}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(at + i).toString(16));
  return new URL(`http://[${groups.join(':')}]`).hostname.slice(1, -1); // the canonical, compressed form
}

function writeAddress(into: Buffer, at: number, address: string, v4: boolean): void {
  if (v4) {
    address.split('.').forEach((octet, i) => { into[at + i] = Number(octet); });
    return;
  }
  const [head = '', tail] = address.split('::');
  const parse = (part: string) => (part === '' ? [] : part.split(':').flatMap((group) => {
    if (!group.includes('.')) return [parseInt(group, 16)];
    const [a = 0, b = 0, c = 0, d = 0] = group.split('.').map(Number); // an embedded IPv4 tail (RFC 4291 §2.2)
    return [(a << 8) | b, (c << 8) | d];
  }));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  const groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  groups.forEach((group, i) => into.writeUInt16BE(group, at + 2 * i));
}
