import type { IncomingMessage } from 'node:http';
import { PassThrough, type Readable } from 'node:stream';
import type { Clock } from 'holdfast/internal/clock.js';
import { BodyTooLargeError } from 'holdfast/internal/errors.js';

/** The body rate is checked over windows of this length. */
export const BODY_RATE_WINDOW_MS = 5_000;

export interface BodySettings {
  /** Bodies up to this size are read whole before an upstream connection is taken. */
  bufferBytes: number;
  /** Bytes per second a client must keep sending its body at (0: no floor). */
  minRate: number;
  /** 413 past this many bytes (0: no limit). */
  maxBytes: number;
  clock: Clock;
  /** The access log's record of the request: its bytes in. */
  record?: { bytesIn: number } | undefined;
}

export type BodyOutcome =
  | { kind: 'buffered'; body: Buffer }
  /** Larger than bufferBytes: what was read, then the rest as it comes. */
  | { kind: 'streamed'; body: Readable }
  | { kind: 'too-slow' }
  | { kind: 'too-large' }
  /** The client left before its body was in. */
  | { kind: 'gone' };

/**
 * Reads a request body before the proxy takes an upstream connection for it, as nginx does, so
 * that a client that sends its body slowly holds no pooled connection: ten slow uploads from
 * one address used to fill a target's pool until the 300 s request timeout (issue 19).
 *
 * A body up to `bufferBytes` is handed over whole. A larger one is handed over as a stream once
 * `bufferBytes` are in. Either way the client must keep to `minRate` bytes per second, checked
 * over 5 s windows: a slower one gets 408 (while buffering) or is cut off (while streaming).
 */
export function readBody(req: IncomingMessage, settings: BodySettings, done: (outcome: BodyOutcome) => void): void {
  const chunks: Buffer[] = [];
  let received = 0;
  let atLastCheck = 0;
  let stream: PassThrough | undefined;
  let settled = false;
  const settle = (outcome: BodyOutcome) => {
    if (settled) return;
    settled = true;
    done(outcome);
  };
  const timer = settings.minRate > 0 ? settings.clock.timer(() => {
    if (received - atLastCheck < (settings.minRate * BODY_RATE_WINDOW_MS) / 1000) {
      finish();
      if (stream === undefined) settle({ kind: 'too-slow' });
      else req.destroy(); // mid-stream: the exchange sees the client leave and aborts upstream
      return;
    }
    atLastCheck = received;
    timer?.refresh();
  }, BODY_RATE_WINDOW_MS) : undefined;
  const finish = () => {
    timer?.cancel();
    req.removeListener('data', onData);
    req.removeListener('end', onEnd);
    req.removeListener('close', onClose);
  };
  const { record } = settings;
  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (record !== undefined) record.bytesIn = received;
    if (settings.maxBytes > 0 && received > settings.maxBytes) {
      finish();
      if (stream === undefined) return settle({ kind: 'too-large' });
      stream.destroy(new BodyTooLargeError('request', settings.maxBytes)); // the exchange answers 413, or cuts the response
      return;
    }
    if (stream !== undefined) {
      if (!stream.write(chunk)) req.pause();
      return;
    }
    chunks.push(chunk);
    if (received > settings.bufferBytes) {
      stream = new PassThrough();
      stream.on('drain', () => req.resume());
      for (const buffered of chunks.splice(0)) stream.write(buffered);
      settle({ kind: 'streamed', body: stream });
    }
  };
  const onEnd = () => {
    finish();
    if (stream !== undefined) stream.end();
    else settle({ kind: 'buffered', body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received) });
  };
  const onClose = () => {
    finish();
    if (stream !== undefined) stream.destroy();
    settle({ kind: 'gone' });
  };
  req.on('data', onData);
  req.on('end', onEnd);
  req.on('close', onClose);
}
