import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/**
 * A hand-written HTTP/2 client for attack tests: it sends what node:http2's client refuses to
 * (CR or LF in a value, connection-specific fields, a content-length the DATA frames do not
 * match, floods of RST_STREAM, CONTINUATION, PING or SETTINGS), frame by frame. Header blocks
 * are HPACK literals without indexing or Huffman (RFC 7541 §6.2.2), which any decoder takes.
 * It reads the server's frames without decoding their header blocks: what a test needs is
 * whether a stream got HEADERS, a RST_STREAM (and its code), or the session a GOAWAY.
 */

export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, CONTINUATION: 9 } as const;
export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** An HPACK integer with an N-bit prefix (RFC 7541 §5.1). */
function hpackInt(value: number, prefixBits: number, first = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([first | value]);
  const out = [first | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** A header block of literal fields, in order, bytes as given (latin1). */
export function headerBlock(fields: [string, string][]): Buffer {
  return Buffer.concat(fields.flatMap(([name, value]) => {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    return [Buffer.from([0x00]), hpackInt(n.length, 7), n, hpackInt(v.length, 7), v];
  }));
}

export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(9);
  header.writeUIntBE(payload.length, 0, 3);
  header[3] = type;
  header[4] = flags;
  header.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([header, payload]);
}

export function rstStream(stream: number, code = 8 /* CANCEL */): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, stream, payload);
}

export class RawH2 {
  readonly socket: Socket;
  readonly frames: Frame[] = [];
  #buffered = Buffer.alloc(0);
  readonly closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('error', () => {}); // a server that cuts the session off resets it
    this.closed = once(socket, 'close').then(() => {});
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
  }

  /** Connects (TLS with ALPN h2 when `servername` is given, else cleartext prior knowledge) and sends the preface and an empty SETTINGS. */
  static async open(port: number, servername?: string): Promise<RawH2> {
    const socket = servername === undefined
      ? netConnect({ host: '127.0.0.1', port })
      : tlsConnect({ host: '127.0.0.1', port, servername, ALPNProtocols: ['h2'], rejectUnauthorized: false });
    await once(socket, servername === undefined ? 'connect' : 'secureConnect');
    const client = new RawH2(socket);
    socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
    return client;
  }

  send(...frames: Buffer[]): boolean {
    return this.socket.write(Buffer.concat(frames));
  }

  /** A request's HEADERS (with END_HEADERS; with END_STREAM when `end`). */
  headers(stream: number, fields: [string, string][], end = true): Buffer {
    return frame(FRAME.HEADERS, FLAG.END_HEADERS | (end ? FLAG.END_STREAM : 0), stream, headerBlock(fields));
  }

  /** Resolves with the first frame (already read, or to come) that `test` accepts; undefined if the connection closes first. */
  async waitFor(test: (f: Frame) => boolean): Promise<Frame | undefined> {
    const seen = this.frames.find(test);
    if (seen !== undefined) return seen;
    return new Promise((resolve) => {
      const onFrame = (f: Frame) => {
        if (!test(f)) return;
        this.socket.off('h2frame', onFrame);
        resolve(f);
      };
      this.socket.on('h2frame', onFrame);
      void this.closed.then(() => { this.socket.off('h2frame', onFrame); resolve(undefined); });
    });
  }

  /** How the stream ended: `headers` (a response started), `rst:CODE`, `goaway`, or `closed`. */
  async outcome(stream: number): Promise<string> {
    const f = await this.waitFor((x) => (x.stream === stream && (x.type === FRAME.HEADERS || x.type === FRAME.RST_STREAM)) || x.type === FRAME.GOAWAY);
    if (f === undefined) return 'closed';
    if (f.type === FRAME.HEADERS) return 'headers';
    if (f.type === FRAME.RST_STREAM) return `rst:${f.payload.readUInt32BE(0)}`;
    return 'goaway';
  }

  destroy(): void {
    this.socket.destroy();
  }

  #read(chunk: Buffer): void {
    this.#buffered = Buffer.concat([this.#buffered, chunk]);
    while (this.#buffered.length >= 9) {
      const length = this.#buffered.readUIntBE(0, 3);
      if (this.#buffered.length < 9 + length) return;
      const f: Frame = { type: this.#buffered[3]!, flags: this.#buffered[4]!, stream: this.#buffered.readUInt32BE(5) & 0x7fffffff, payload: this.#buffered.subarray(9, 9 + length) };
      this.#buffered = this.#buffered.subarray(9 + length);
      this.frames.push(f);
      if (f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0 && !this.socket.destroyed) this.socket.write(frame(FRAME.SETTINGS, FLAG.ACK, 0));
      this.socket.emit('h2frame', f);
    }
  }
}
