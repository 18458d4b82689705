import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AcmeManager } from './acme-manager.js';

/** RFC 8555 §8.3: the CA fetches `http://DOMAIN/.well-known/acme-challenge/TOKEN`; a token is base64url. */
const ACME_CHALLENGE = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]{1,256})$/;

/**
 * Answers an HTTP-01 validation request before any route: with the key authorization this
 * proxy, or one sharing its ACME store, placed for the token. Returns false when the request
 * is not one (the caller routes it); a token with no answer goes to `route` as well.
 */
export function answerHttpChallenge(acme: AcmeManager, req: IncomingMessage, res: ServerResponse, route: (req: IncomingMessage, res: ServerResponse) => void): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const token = ACME_CHALLENGE.exec(req.url ?? '')?.[1];
  if (token === undefined) return false;
  acme.httpChallenge(token).then((answer) => {
    if (answer === undefined) return route(req, res);
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': Buffer.byteLength(answer) });
    res.end(req.method === 'HEAD' ? undefined : answer);
  }, () => route(req, res));
  return true;
}
