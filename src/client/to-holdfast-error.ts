import {
  ConnectError, DispatcherClosedError, HoldfastError, InvalidRequestError, RequestAbortedError,
  ResponseTimeoutError, SocketError, StaleSocketError, TlsError, type ErrorContext,
} from '../errors.js';
import { classifyFailure, errorCode } from './request-facts.js';

/** Turns whatever undici or the OS raised into the holdfast error the caller sees. */
export function toHoldfastError(err: Error, context: ErrorContext): HoldfastError {
  if (err instanceof HoldfastError) return err;
  const ctx = { ...context, cause: err };
  const code = errorCode(err);
  const detail = code === undefined ? err.message : `${code}: ${err.message}`;
  switch (classifyFailure(err)) {
    case 'connect':
      return new ConnectError(`could not connect to ${context.origin ?? 'the server'} (${detail})`, ctx);
    case 'stale':
      return new StaleSocketError(
        `the server closed an idle keep-alive connection as a ${context.method ?? ''} request was written; ` +
          'not sent again because it is not idempotent (add an Idempotency-Key header to allow it)',
        ctx,
      );
    case 'socket':
      return new SocketError(`connection failed after the request was sent (${detail})`, ctx);
    case 'timeout':
      return new ResponseTimeoutError(`no response in time (${detail})`, ctx);
    case 'tls':
      return new TlsError(`TLS handshake with ${context.origin ?? 'the server'} failed (${detail})`, ctx);
    case 'aborted':
      return new RequestAbortedError(ctx);
    case 'closed':
      return new DispatcherClosedError(ctx);
    case 'invalid':
      return new InvalidRequestError(err.message, ctx);
    case 'other':
      return new SocketError(`request failed (${detail})`, ctx);
  }
}
