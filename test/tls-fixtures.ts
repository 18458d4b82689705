import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { connect } from 'node:tls';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let cached: { key: Buffer; cert: Buffer } | undefined;

/**
 * A real self-signed certificate for 127.0.0.1 and localhost, made once per test
 * process with the openssl command (Debian's openssl package).
 */
export function selfSignedCertificate(): { key: Buffer; cert: Buffer } {
  if (cached !== undefined) return cached;
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-tls-'));
  try {
    execFileSync('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    ], { stdio: 'ignore' });
    cached = { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The bytes a real Node TLS client sends first (its ClientHello records), captured by a
 * plain TCP server on 127.0.0.1 that never answers.
 */
export async function captureClientHello(options: { servername?: string; ALPNProtocols?: string[] } = {}): Promise<Buffer> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const captured = once(server, 'connection').then(async (args) => {
    const [socket] = args as [Socket];
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    socket.destroy();
    return chunk;
  });
  const client = connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...options });
  client.on('error', () => {}); // the capturing server hangs up on it
  try {
    return await captured;
  } finally {
    client.destroy();
    server.close();
  }
}
