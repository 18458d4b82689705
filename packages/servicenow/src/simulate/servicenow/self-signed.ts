import { isIP } from 'node:net';
import { generate } from 'selfsigned';

/** Days a generated certificate is valid: a simulator is restarted long before. */
const VALID_DAYS = 30;

/**
 * A self-signed certificate (ECDSA P-256) for `host`, localhost and 127.0.0.1, made at
 * start by selfsigned: what `holdfast simulate servicenow --tls` serves, since ServiceNow
 * clients such as servicenow-rest-api only speak https.
 */
export async function selfSignedCertificate(host: string): Promise<{ key: string; cert: string }> {
  const names = new Set(['localhost', host]);
  const ips = new Set(['127.0.0.1', '::1']);
  for (const name of names) if (isIP(name) !== 0) { names.delete(name); ips.add(name); }
  names.delete('0.0.0.0');
  const notBeforeDate = new Date(Date.now() - 60_000);
  const notAfterDate = new Date(notBeforeDate.getTime() + VALID_DAYS * 86_400_000);
  const pem = await generate([{ name: 'commonName', value: [...names][0] ?? 'localhost' }], {
    keyType: 'ec', curve: 'P-256', algorithm: 'sha256', notBeforeDate, notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [...[...names].map((value) => ({ type: 2 as const, value })), ...[...ips].filter((ip) => ip !== '0.0.0.0' && ip !== '::').map((ip) => ({ type: 7 as const, ip }))] },
    ],
  });
  return { key: pem.private, cert: pem.cert };
}
