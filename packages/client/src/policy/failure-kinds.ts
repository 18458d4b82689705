/** How a failed attempt failed, as far as sending it again is concerned. */
export type FailureKind =
  | 'connect' // nothing was written: safe to send again, whatever the method
  | 'stale' // reused socket, request written, no response byte: the server closed an idle socket
  | 'socket' // written, then the connection failed: outcome unknown
  | 'timeout' // no headers or body data in time: outcome unknown
  | 'tls'
  | 'aborted'
  | 'closed'
  | 'invalid'
  | 'other';

/** Codes that mean no connection was made, so nothing was sent. */
export const NEVER_CONNECTED_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ENETDOWN', 'EHOSTDOWN', 'UND_ERR_CONNECT_TIMEOUT',
]);
/**
 * A request the server refused unprocessed, though it was sent: HTTP/2's REFUSED_STREAM (RFC
 * 9113 §8.7). As safe to send again as a refused connect, whatever the method.
 */
export const REFUSED_UNPROCESSED_CODE = 'NGHTTP2_REFUSED_STREAM';

/** Codes of a connection that was made and then lost (reset, broken pipe, closed under the request). */
export const CONNECTION_LOST_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'ERR_SOCKET_CONNECTION_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED',
  'HF_ERR_SILENT_DROP', // holdfast's own: no response byte on a socket that idled, so the flow was dropped on the way
  'ERR_HTTP2_STREAM_ERROR', // an HTTP/2 stream reset (by the server or a middlebox): as a socket reset, for that stream
  'ERR_HTTP2_SESSION_ERROR', 'ERR_HTTP2_GOAWAY_SESSION',
]);
const TIMEOUT_CODES: ReadonlySet<string> = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'HF_ERR_RESPONSE_TIMEOUT']);

/** What the transport knew when the attempt failed: undefined when it knew nothing. */
export interface WireFacts {
  /** The request was (partly) written to a socket. */
  written: boolean;
  /** The socket had carried a complete exchange before. */
  reused: boolean;
  /** A response byte arrived after the request was written. */
  responseBytes: boolean;
}

const isTlsCode = (code: string) => code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL') || code.includes('CERT') || code.includes('SIGNATURE');

/**
 * The kind of a network failure, from its error code and what the transport saw: the one
 * rule the client's retry and replay, its breaker and the axios adapter all follow.
 * (Aborts, a closed dispatcher and invalid arguments are told apart by the caller, which
 * knows its own error shapes.)
 *
 * @example
 * failureKind('ECONNRESET', { written: true, reused: true, responseBytes: false }); // 'stale'
 * failureKind('ECONNREFUSED', undefined); // 'connect'
 */
export function failureKind(code: string, facts: WireFacts | undefined): FailureKind {
  if (code === REFUSED_UNPROCESSED_CODE) return 'connect';
  if (isTlsCode(code)) return 'tls';
  if (TIMEOUT_CODES.has(code)) return 'timeout';
  if (facts === undefined || !facts.written) return NEVER_CONNECTED_CODES.has(code) || CONNECTION_LOST_CODES.has(code) ? 'connect' : 'other';
  if (CONNECTION_LOST_CODES.has(code)) return facts.reused && !facts.responseBytes ? 'stale' : 'socket';
  return 'other';
}
