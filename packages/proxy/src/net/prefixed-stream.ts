import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';

/**
 * A socket whose first bytes were already read (to find the SNI of a ClientHello, say),
 * presented as a stream that yields those bytes again, then the socket's. Node's TLS and
 * HTTP servers take over a net.Socket's handle directly and would never see bytes already
 * read into JavaScript; given this stream instead, they read everything in order.
 *
 * Writes, half-close, destroy and the inactivity timer go to the socket.
 */
export class PrefixedStream extends Duplex {
  readonly socket: Socket;

  constructor(socket: Socket, prefix: Buffer) {
    super({ allowHalfOpen: true });
    this.socket = socket;
    this.push(prefix);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onClose);
    socket.on('timeout', this.#onTimeout);
  }

  readonly #onData = (chunk: Buffer): void => {
    if (!this.push(chunk)) this.socket.pause();
  };

  readonly #onEnd = (): void => { this.push(null); };

  readonly #onClose = (): void => { this.destroy(); };

  readonly #onTimeout = (): void => { this.emit('timeout'); };

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.socket.write(chunk, encoding, callback);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.socket.end(callback);
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.socket.destroy();
    callback(err);
  }

  /** The socket's inactivity timer, so that an HTTP server's keep-alive timeout applies. */
  setTimeout(ms: number, callback?: () => void): this {
    this.socket.setTimeout(ms);
    if (callback !== undefined) this.once('timeout', callback);
    return this;
  }

  get remoteAddress(): string | undefined {
    return this.socket.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.socket.remotePort;
  }
}
