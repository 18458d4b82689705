/** Methods that RFC 9110 §9.2.2 defines as idempotent, plus QUERY (draft-ietf-httpbis-safe-method-w-body). */
const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE', 'QUERY']);

/**
 * Whether a method may be sent twice (RFC 9110 §9.2.2). The one definition the client's
 * interceptors, the axios adapter and the proxy's upstream retry all read.
 *
 * @example
 * isIdempotentMethod('put'); // true
 * isIdempotentMethod('POST'); // false
 */
export function isIdempotentMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || IDEMPOTENT_METHODS.has(method.toUpperCase());
}

/**
 * Whether sending a request twice is harmless: the caller said so (`declared`), or its
 * method is idempotent, or it carries an `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header).
 *
 * @example
 * isSafeToRepeat('POST', { idempotencyKey: 'order-42' }); // true
 * isSafeToRepeat('GET', { declared: false }); // false: the caller's word wins
 */
export function isSafeToRepeat(method: string, { idempotencyKey, declared }: { idempotencyKey?: string | undefined; declared?: boolean | undefined } = {}): boolean {
  if (declared !== undefined) return declared;
  return isIdempotentMethod(method) || idempotencyKey !== undefined;
}
