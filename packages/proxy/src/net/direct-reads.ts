/**
 * Reads from a dialled socket straight into one buffer shared by every such socket, through
 * Node's `onread` option, instead of a freshly allocated chunk per read emitted as 'data'.
 * The event loop runs one read callback at a time, so the buffer is free again when the
 * callback returns, unless the chunk was queued by a write that did not complete at once:
 * the sink then calls `detach()`, and the next read gets a new buffer. Idle connections hold
 * no read buffer at all.
 */
const READ_BUFFER_BYTES = 64 * 1024;
let shared = Buffer.allocUnsafe(READ_BUFFER_BYTES);

export interface DirectReads {
  /** Takes each chunk (valid until it returns, unless it calls `detach()`); false pauses the socket. */
  sink: ((chunk: Buffer) => boolean) | undefined;
  /** Chunks read before a sink was attached, copied. */
  early: Buffer[];
}

/** The `onread` option for `net.connect`, delivering to `reads.sink`. */
export function directReadOption(reads: DirectReads): { buffer: () => Buffer; callback: (bytes: number, buffer: Uint8Array) => boolean } {
  return {
    buffer: () => shared,
    callback: (bytes, buffer) => {
      const chunk = Buffer.from(buffer.buffer, buffer.byteOffset, bytes);
      if (reads.sink === undefined) {
        reads.early.push(Buffer.from(chunk));
        return true;
      }
      return reads.sink(chunk);
    },
  };
}

/** The chunk just delivered is still referenced (a write queued it): the next read gets a new buffer. */
export function detach(): void {
  shared = Buffer.allocUnsafe(READ_BUFFER_BYTES);
}
