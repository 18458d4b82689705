import { STATUS_CODES, type ServerResponse } from 'node:http';
import { HoldfastError, type BodyTooLargeError } from 'holdfast/internal/errors.js';
import { recordOf } from './request-record.js';

/** The response header that carries the holdfast error code of a response the proxy made itself. */
export const ERROR_HEADER = 'holdfast-error';

/**
 * The status for a failure to get an upstream response: 504 when the upstream was too slow,
 * 503 when no upstream may be tried (all ejected or unhealthy, breaker open, queue full),
 * 502 for everything else (refused, reset, bad TLS, a malformed or oversized response).
 */
export function statusForUpstreamFailure(err: Error): number {
  switch ((err as Partial<HoldfastError>).code) {
    case 'HF_ERR_RESPONSE_TIMEOUT':
    case 'HF_ERR_DEADLINE':
      return 504;
    case 'HF_ERR_NO_UPSTREAM':
    case 'HF_ERR_CIRCUIT_OPEN':
    case 'HF_ERR_QUEUE_FULL':
    case 'HF_ERR_QUEUE_TIMEOUT':
    case 'HF_ERR_CLOSED':
      return 503;
    case 'HF_ERR_BODY_TOO_LARGE':
      return (err as BodyTooLargeError).which === 'request' ? 413 : 502;
    default:
      return 502;
  }
}

/**
 * A short response the proxy makes itself: `502 Bad Gateway` and the code, in the body and in
 * the `holdfast-error` header. Never the upstream's address or the cause's message: those are
 * for the proxy's logs, not for clients.
 */
export function sendError(res: ServerResponse, status: number, code: string, close = false): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  const body = errorBody(status, code);
  const headers: Record<string, string | number> = {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    [ERROR_HEADER]: code,
  };
  // The rest of the request was not read (a refused body): the connection cannot be reused.
  if (close && !('stream' in res)) headers.connection = 'close'; // HTTP/2 has no such field: the stream ends alone
  res.writeHead(status, headers);
  res.end(body);
  recordOf(res.req)?.wrote(headers['content-length'] as number);
}

/** The code of any error: a HoldfastError's own, or a generic one. */
export function codeOf(err: Error): string {
  return err instanceof HoldfastError ? err.code : 'HF_ERR_SOCKET';
}

/** The body of an answer the proxy makes itself: `502 Bad Gateway (HF_ERR_CONNECT)`. */
export function errorBody(status: number, code: string): string {
  return `${status} ${STATUS_CODES[status] ?? ''} (${code})\n`;
}
