/**
 * An incremental reader of a TLS ClientHello, for routing by SNI without decrypting.
 *
 * The hello may arrive in any number of TCP segments, and the handshake message may be
 * split across several TLS records (RFC 8446 §5.1: "handshake messages MAY be coalesced
 * into a single TLSPlaintext record or fragmented across several records"). The reader
 * takes chunks as they come and answers `incomplete` until it has the whole message.
 * Every byte is copied at most once: chunks are joined only when enough of them have
 * arrived for the next step, so a hello dribbled in one byte at a time costs O(n).
 *
 * Malformed or oversized input is an answer (`rejected` with a reason), never an exception.
 *
 * @example
 * const reader = new ClientHelloReader();
 * socket.on('data', (chunk) => {
 *   const result = reader.push(chunk);
 *   if (result.kind === 'hello') route(result.serverName);
 * });
 */

/** Why a ClientHello was refused. */
export type HelloRejection =
  | 'not-tls' // the first byte is not a TLS handshake record (an HTTP request, say)
  | 'bad-record' // a record of another type, version or length than a ClientHello allows
  | 'not-client-hello' // a handshake message other than ClientHello came first
  | 'too-large' // the hello is longer than the configured bound
  | 'malformed' // a length field that does not add up
  | 'bad-server-name'; // an SNI that is not a valid DNS name (RFC 6066 §3)

export type HelloResult =
  | { kind: 'incomplete' }
  | {
    kind: 'hello';
    /** The `server_name` extension's host name, lower-cased; undefined when the client sent none. */
    serverName: string | undefined;
    /** ALPN protocols offered, in the client's order. */
    alpn: string[];
  }
  | { kind: 'rejected'; reason: HelloRejection; detail: string };

const RECORD_HEADER = 5;
const HANDSHAKE_HEADER = 4;
const CONTENT_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
/** RFC 8446 §5.1: a plaintext record's fragment is at most 2^14 bytes. */
const MAX_RECORD = 16_384;
/** Default bound on the hello: with post-quantum key shares a hello is about 2 KB; 16 KiB leaves room. */
export const DEFAULT_MAX_HELLO_BYTES = 16_384;

const incomplete: HelloResult = { kind: 'incomplete' };
const reject = (reason: HelloRejection, detail: string): HelloResult => ({ kind: 'rejected', reason, detail });

export class ClientHelloReader {
  readonly #maxBytes: number;
  /** Bytes received and not yet consumed as whole records. */
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Handshake-message bytes gathered from the records consumed so far. */
  #handshake: Buffer[] = [];
  #handshakeBytes = 0;
  #result: HelloResult = incomplete;

  constructor({ maxBytes = DEFAULT_MAX_HELLO_BYTES }: { maxBytes?: number } = {}) {
    this.#maxBytes = maxBytes;
  }

  /** Feeds the next chunk; once the answer is not `incomplete`, it no longer changes. */
  push(chunk: Buffer): HelloResult {
    if (this.#result.kind !== 'incomplete') return this.#result;
    if (this.#buffered === 0 && this.#handshakeBytes === 0 && chunk.length > 0 && chunk[0] !== CONTENT_HANDSHAKE) {
      return (this.#result = reject('not-tls', `first byte 0x${chunk[0]!.toString(16)} is not a TLS handshake record`));
    }
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    this.#result = this.#consumeRecords();
    if (this.#result.kind !== 'incomplete') {
      this.#chunks = [];
      this.#handshake = [];
    }
    return this.#result;
  }

  #consumeRecords(): HelloResult {
    for (;;) {
      if (this.#buffered < RECORD_HEADER) return incomplete;
      const head = this.#peek(RECORD_HEADER);
      const type = head[0]!;
      const major = head[1]!;
      const length = head.readUInt16BE(3);
      if (type !== CONTENT_HANDSHAKE) return reject('bad-record', `record type ${type} before the ClientHello ended`);
      if (major !== 3) return reject('bad-record', `record version ${major}.${head[2]!}`);
      if (length === 0) return reject('bad-record', 'a zero-length handshake record'); // RFC 8446 §5.1
      if (length > MAX_RECORD) return reject('bad-record', `record length ${length} exceeds 2^14`);
      if (this.#handshakeBytes + length > this.#maxBytes + HANDSHAKE_HEADER) {
        return reject('too-large', `more than ${this.#maxBytes} bytes of handshake without a whole ClientHello`);
      }
      if (this.#buffered < RECORD_HEADER + length) return incomplete;
      const record = this.#take(RECORD_HEADER + length);
      this.#handshake.push(record.subarray(RECORD_HEADER));
      this.#handshakeBytes += length;
      const answer = this.#tryHandshake();
      if (answer !== incomplete) return answer;
    }
  }

  #tryHandshake(): HelloResult {
    if (this.#handshakeBytes < HANDSHAKE_HEADER) return incomplete;
    const message = this.#handshake.length === 1 ? this.#handshake[0]! : Buffer.concat(this.#handshake);
    this.#handshake = [message];
    if (message[0] !== HANDSHAKE_CLIENT_HELLO) return reject('not-client-hello', `handshake type ${message[0]!}`);
    const length = message.readUIntBE(1, 3);
    if (length > this.#maxBytes) return reject('too-large', `ClientHello of ${length} bytes exceeds ${this.#maxBytes}`);
    if (message.length < HANDSHAKE_HEADER + length) return incomplete;
    return parseClientHelloBody(message.subarray(HANDSHAKE_HEADER, HANDSHAKE_HEADER + length));
  }

  /** The first `n` buffered bytes, without consuming them. */
  #peek(n: number): Buffer {
    if (this.#chunks[0]!.length < n) this.#chunks = [Buffer.concat(this.#chunks)];
    return this.#chunks[0]!;
  }

  /** Consumes and returns the first `n` buffered bytes. */
  #take(n: number): Buffer {
    const joined = this.#peek(n);
    this.#chunks[0] = joined.subarray(n);
    if (this.#chunks[0].length === 0) this.#chunks.shift();
    this.#buffered -= n;
    return joined.subarray(0, n);
  }
}

/** A bounds-checked cursor: every read past the end sets `overrun` instead of throwing. */
class Cursor {
  offset = 0;
  overrun = false;
  constructor(readonly bytes: Buffer) {}
  get left(): number { return this.bytes.length - this.offset; }
  u8(): number { return this.#read(1) ? this.bytes[this.offset - 1]! : 0; }
  u16(): number { return this.#read(2) ? this.bytes.readUInt16BE(this.offset - 2) : 0; }
  slice(n: number): Buffer { return this.#read(n) ? this.bytes.subarray(this.offset - n, this.offset) : Buffer.alloc(0); }
  #read(n: number): boolean {
    if (this.overrun || this.offset + n > this.bytes.length) { this.overrun = true; return false; }
    this.offset += n;
    return true;
  }
}

/** RFC 8446 §4.1.2 (and RFC 5246 §7.4.1.2): the ClientHello body. */
export function parseClientHelloBody(body: Buffer): HelloResult {
  const c = new Cursor(body);
  c.slice(2 + 32); // legacy_version, random
  const sessionId = c.u8();
  if (sessionId > 32) return reject('malformed', `session id of ${sessionId} bytes`);
  c.slice(sessionId);
  const suites = c.u16();
  if (suites < 2 || suites % 2 !== 0) return reject('malformed', `cipher suites of ${suites} bytes`);
  c.slice(suites);
  const compression = c.u8();
  if (compression < 1) return reject('malformed', 'no compression methods');
  c.slice(compression);
  if (c.overrun) return reject('malformed', 'ClientHello shorter than its fields');
  if (c.left === 0) return { kind: 'hello', serverName: undefined, alpn: [] }; // no extensions (SSLv3-era)
  const extensions = new Cursor(c.slice(c.u16()));
  if (c.overrun || c.left !== 0) return reject('malformed', 'extensions length does not match the ClientHello');
  let serverName: string | undefined;
  let alpn: string[] = [];
  const seen = new Set<number>();
  while (extensions.left > 0) {
    const type = extensions.u16();
    const data = extensions.slice(extensions.u16());
    if (extensions.overrun) return reject('malformed', `extension ${type} runs past the extensions block`);
    if (seen.has(type)) return reject('malformed', `extension ${type} appears twice`); // RFC 8446 §4.2
    seen.add(type);
    if (type === EXT_SERVER_NAME) {
      const name = readServerName(data);
      if (typeof name !== 'string' && name !== undefined) return name;
      serverName = name;
    } else if (type === EXT_ALPN) {
      const protocols = readAlpn(data);
      if (protocols === undefined) return reject('malformed', 'ALPN extension');
      alpn = protocols;
    }
  }
  return { kind: 'hello', serverName, alpn };
}

/** RFC 6066 §3: the host_name entry of a server_name list. */
function readServerName(data: Buffer): string | undefined | HelloResult {
  const c = new Cursor(data);
  const list = new Cursor(c.slice(c.u16()));
  if (c.overrun || c.left !== 0) return reject('malformed', 'server_name list length');
  let hostName: string | undefined;
  while (list.left > 0) {
    const nameType = list.u8();
    const name = list.slice(list.u16());
    if (list.overrun) return reject('malformed', 'server_name entry length');
    if (nameType !== 0) continue; // only host_name (0) is defined
    if (hostName !== undefined) return reject('malformed', 'two host names in server_name'); // RFC 6066 §3
    hostName = name.toString('latin1');
    if (!isDnsName(hostName)) return reject('bad-server-name', `server name ${JSON.stringify(hostName.slice(0, 64))} is not a DNS host name`);
  }
  return hostName?.toLowerCase();
}

/** RFC 7301 §3.1: a list of non-empty protocol names. */
function readAlpn(data: Buffer): string[] | undefined {
  const c = new Cursor(data);
  const list = new Cursor(c.slice(c.u16()));
  if (c.overrun || c.left !== 0) return undefined;
  const protocols: string[] = [];
  while (list.left > 0) {
    const name = list.slice(list.u8());
    if (list.overrun || name.length === 0) return undefined;
    protocols.push(name.toString('latin1'));
  }
  return protocols;
}

/** RFC 6066 §3: "HostName" is an ASCII DNS name without a trailing dot; IP literals are not allowed. */
function isDnsName(name: string): boolean {
  if (name.length === 0 || name.length > 253) return false;
  return name.split('.').every((label) => /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/i.test(label));
}
