import {
  type Delivery, ConnectError, DispatcherClosedError, HoldfastError, InvalidRequestError, RequestAbortedError,
  ResponseTimeoutError, SocketError, StaleSocketError, TlsError, type ErrorContext,
} from '../errors.js';
import { classifyFailure, errorCode, factsOf, isRefusedStream } from './request-facts.js';

/** How far the request got, from the facts the transport recorded on the error. */
function deliveryOf(err: Error, kind: string): Delivery | undefined {
  if (kind === 'connect') return 'never-sent';
  const facts = factsOf(err);
  if (facts === undefined) return undefined;
  if (!facts.written) return 'never-sent';
  return facts.responseBytes ? 'response-cut' : 'sent-no-response';
}

const OUTCOME: Record<Delivery, string> = {
  'never-sent': 'nothing reached the server',
  'sent-no-response': 'the request was written and no response byte came back: whether the server applied it is unknown',
  'response-cut': 'the server began to answer and the response was cut off',
};

/** Turns whatever undici or the OS raised into the holdfast error the caller sees. */
export function toHoldfastError(err: Error, context: ErrorContext): HoldfastError {
  if (err instanceof HoldfastError) return err;
  const kind = classifyFailure(err);
  const delivery = deliveryOf(err, kind);
  const ctx = { ...context, delivery, cause: err };
  const code = errorCode(err);
  const detail = code === undefined ? err.message : `${code}: ${err.message}`;
  const outcome = delivery === undefined ? 'the outcome is unknown' : OUTCOME[delivery];
  switch (kind) {
    case 'connect':
      if (isRefusedStream(err)) return new ConnectError(`${context.origin ?? 'the server'} refused the HTTP/2 stream unprocessed (REFUSED_STREAM, ${detail})`, { ...ctx, delivery: 'never-sent' });
      return new ConnectError(`could not connect to ${context.origin ?? 'the server'} (${detail}); ${outcome}`, ctx);
    case 'stale':
      return new StaleSocketError(
        `the connection closed as a ${context.method ?? ''} request was written on a reused keep-alive connection (${detail}); ${outcome}. ` +
          'It was not sent again because it is not idempotent (add an Idempotency-Key header to allow it)',
        ctx,
      );
    case 'socket':
      return new SocketError(`the connection failed (${detail}); ${outcome}`, ctx);
    case 'timeout':
      return new ResponseTimeoutError(`no response in time (${detail}); ${outcome}`, ctx);
    case 'tls':
      return new TlsError(`TLS handshake with ${context.origin ?? 'the server'} failed (${detail})`, ctx);
    case 'aborted':
      return new RequestAbortedError(ctx);
    case 'closed':
      return new DispatcherClosedError(ctx);
    case 'invalid':
      return new InvalidRequestError(err.message, ctx);
    case 'other':
      return new SocketError(`request failed (${detail}); ${outcome}`, ctx);
  }
}
