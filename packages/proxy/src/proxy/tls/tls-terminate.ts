import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Clock } from 'holdfast/internal/clock.js';
import type { CertificateStore } from './certificate-store.js';
import type { AcmeManager } from '../acme/acme-manager.js';

/** How a terminating handshake ended: `ok`, `timeout`, `closed` (the client left), or the TLS error's code. */
export type HandshakeOutcome = string;

/**
 * Terminates TLS on an accepted connection: the certificate is chosen by SNI, ALPN offers
 * `alpn` (the site's: h2 and http/1.1, or http/1.1 alone), the protocol floor is the store's (TLS 1.2 by default), and the handshake
 * must finish within `handshakeMs` (on `clock`, from the moment it starts). `done` is called once, with the decrypted socket or with
 * undefined (the connection is destroyed) and the outcome either way.
 *
 * The TLS socket's `'error'` listener is attached in the tick it is created.
 *
 * With `acme` (the hello offered only `acme-tls/1`: a CA's TLS-ALPN-01 validation, RFC 8737),
 * the certificate is the challenge's own for the SNI name, ALPN is `acme-tls/1`, and the
 * connection ends after the handshake (`acme-tls-alpn`): no HTTP is served on it. A name with
 * no challenge pending fails the handshake.
 */
export function terminateTls(stream: Socket, { certificates, handshakeMs, clock, alpn }: { certificates: CertificateStore; handshakeMs: number; clock: Clock; alpn: string[] }, done: (socket: TLSSocket | undefined, outcome: HandshakeOutcome) => void, acme?: AcmeManager): TLSSocket {
  // Bytes already read (a ClientHello sniffed for SNI) were unshifted back onto `stream`:
  // TLSSocket feeds a wrapped socket's buffered bytes to the handshake first.
  const socket = new TLSSocket(stream, {
    isServer: true,
    secureContext: acme === undefined ? certificates.defaultContext : undefined,
    SNICallback: acme === undefined ? certificates.sniCallback : (name, callback) => void acme.tlsAlpnContext(name).then((context) => callback(null, context), callback),
    ALPNProtocols: acme === undefined ? alpn : ['acme-tls/1'],
  });
  let settled = false;
  const finish = (outcome: HandshakeOutcome) => {
    if (settled) return;
    settled = true;
    cancelTimeout();
    socket.removeListener('secure', onSecure);
    socket.removeListener('close', onClose);
    socket.removeListener('end', onClose);
    // As tls.Server does on a server socket's handshake: an HTTP/2 session set up on a socket
    // still marked secureConnecting waits for a 'secureConnect' that only client sockets emit.
    (socket as TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
    if (outcome === 'ok' && acme === undefined) return done(socket, outcome);
    if (outcome === 'ok') outcome = 'acme-tls-alpn';
    socket.destroy();
    done(undefined, outcome);
  };
  const onError = (err: NodeJS.ErrnoException) => finish(outcomeOf(err));
  const onTimeout = () => finish('timeout');
  const onSecure = () => finish('ok');
  const onClose = () => finish('closed');
  socket.on('error', onError); // stays: the socket's later errors are read from its close
  socket.once('secure', onSecure);
  socket.once('close', onClose);
  // The accepted socket allows half-open connections: a client's FIN mid-handshake is an
  // 'end' without a 'close', and the handshake can never finish.
  socket.once('end', onClose);
  const cancelTimeout = clock.schedule(onTimeout, handshakeMs);
  return socket;
}

/** `ERR_SSL_NO_SHARED_CIPHER` → `no_shared_cipher`; resets → `closed`. A small, fixed set of labels. */
function outcomeOf(err: NodeJS.ErrnoException): HandshakeOutcome {
  const code = err.code ?? '';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'closed';
  if (code.startsWith('ERR_SSL_')) return code.slice('ERR_SSL_'.length).toLowerCase();
  return 'error';
}
