import { connect, type Socket } from 'node:net';
import { systemClock, type Clock, type ClockTimer } from 'holdfast/internal/clock.js';
import { directReadOption, type DirectReads } from './direct-reads.js';

export type DialFailure = 'refused' | 'timeout' | 'error';

export interface DialCallbacks {
  /** The socket is connected; its connect timeout is cleared and the dial's listeners removed. */
  onConnect(socket: Socket): void;
  /** The dial failed; the socket is already destroyed. Called at most once, and never after onConnect. */
  onFail(failure: DialFailure, err: Error | undefined): void;
}

/**
 * Opens a TCP connection with its `'error'` listener attached in the same tick as the
 * socket is created: a refused connect can never surface as an unhandled `'error'`
 * (SmartProxy's crash on ECONNREFUSED, shared/research/smartproxy.md §3). The connect
 * timeout runs on `clock` (unref'd), a fake one in tests.
 *
 * Returns a function that abandons the dial: the socket is destroyed, no callback runs, and
 * `onClosed` is called once its file descriptor is released.
 *
 * With `reads`, the socket's data goes to `reads.sink` (see direct-reads.ts) instead of
 * 'data' events.
 *
 * After `onConnect`, the caller owns the socket and must attach its own `'error'` listener
 * in that same callback.
 */
export function dial(host: string, port: number, timeoutMs: number, callbacks: DialCallbacks, { reads, clock = systemClock }: { reads?: DirectReads; clock?: Clock } = {}): (onClosed: () => void) => void {
  const socket = connect({ host, port, allowHalfOpen: true, noDelay: true, ...(reads === undefined ? {} : { onread: directReadOption(reads) }) });
  let settled = false;
  let timer: ClockTimer | undefined;
  const cleanup = () => {
    settled = true;
    socket.removeListener('error', onError);
    socket.removeListener('connect', onConnect);
    timer?.cancel();
  };
  const fail = (failure: DialFailure, err: Error | undefined) => {
    if (settled) return;
    cleanup();
    socket.on('error', ignore); // destroy() may still report; it is already accounted for
    socket.destroy();
    callbacks.onFail(failure, err);
  };
  const onError = (err: NodeJS.ErrnoException) => fail(err.code === 'ECONNREFUSED' ? 'refused' : 'error', err);
  const onTimeout = () => fail('timeout', undefined);
  const onConnect = () => {
    if (settled) return;
    cleanup();
    callbacks.onConnect(socket);
  };
  socket.on('error', onError);
  socket.on('connect', onConnect);
  if (timeoutMs > 0) timer = clock.timer(onTimeout, timeoutMs);
  return (onClosed) => {
    if (settled) return onClosed(); // never strand the caller
    cleanup();
    socket.on('error', ignore);
    if (socket.closed) onClosed();
    else socket.once('close', onClosed);
    socket.destroy();
  };
}

function ignore(): void {}
