import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { connect } from 'node:tls';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A real self-signed certificate for 127.0.0.1 and localhost, made once per test process with
 * the openssl command (Debian's openssl package); the benchmarks use the same one.
 */
export { selfSigned as selfSignedCertificate } from '../../bench/fixtures/self-signed.js';

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

export interface TestCa {
  cert: Buffer;
  /** Issues a leaf certificate for `names` (DNS names; IP addresses become IP SANs). */
  issue(names: string[], options?: { days?: number }): { cert: Buffer; key: Buffer };
}

/**
 * A throwaway certificate authority, made with the openssl command, that issues real leaf
 * certificates: for SNI selection, renewal (reload) and upstream verification tests. Its files
 * live in a temporary directory removed at process exit.
 */
export function testCa(subject = 'holdfast test CA'): TestCa {
  const dir = mkdtempSync(join(tmpdir(), 'holdfast-ca-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  execFileSync('openssl', [
    'req', '-x509', ...ec, '-days', '2', '-subj', `/CN=${subject}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.pem'),
  ], { stdio: 'ignore' });
  let serial = 0;
  return {
    cert: readFileSync(join(dir, 'ca.pem')),
    issue(names, { days = 2 } = {}) {
      const base = join(dir, `leaf-${++serial}`);
      const san = names.map((name) => (/^[\d.]+$|:/.test(name) ? `IP:${name}` : `DNS:${name}`)).join(',');
      execFileSync('openssl', ['req', ...ec, '-subj', `/CN=${names[0]!}`, '-addext', `subjectAltName=${san}`, '-keyout', `${base}.key`, '-out', `${base}.csr`], { stdio: 'ignore' });
      execFileSync('openssl', [
        'x509', '-req', '-in', `${base}.csr`, '-CA', join(dir, 'ca.pem'), '-CAkey', join(dir, 'ca.key'),
        '-set_serial', String(serial), '-days', String(days), '-copy_extensions', 'copyall', '-out', `${base}.pem`,
      ], { stdio: 'ignore' });
      return { cert: readFileSync(`${base}.pem`), key: readFileSync(`${base}.key`) };
    },
  };
}
