import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';

/** How long the directory or its renewalInfo resource has to answer. */
const REQUEST_TIMEOUT_MS = 10_000;

/** A CA's suggested renewal window (RFC 9773 §4.2), wall-clock ms. */
export interface RenewalWindow {
  start: number;
  end: number;
}

/** GETs an ACME resource as JSON (one try, no retries): the value, or why it could not be had. */
export async function getJson(url: string, caFile: string | undefined): Promise<{ value: unknown } | { error: string }> {
  const dispatcher = new Agent({ connect: caFile === undefined ? {} : { ca: readFileSync(caFile) }, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS, connectTimeout: REQUEST_TIMEOUT_MS });
  try {
    const res = await request(url, { dispatcher });
    const body = await res.body.text();
    if (res.statusCode !== 200) return { error: `HTTP ${res.statusCode}` };
    return { value: JSON.parse(body) as unknown };
  } catch (err) {
    return { error: (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message };
  } finally {
    await dispatcher.close();
  }
}

/**
 * ACME Renewal Information (RFC 9773): the window in which the CA suggests renewing a
 * certificate, from the directory's `renewalInfo` resource (`base`); undefined when it does
 * not answer (the window is advice: two thirds of the lifetime still holds).
 */
export async function renewalWindow(base: string, caFile: string | undefined, certificatePem: string): Promise<RenewalWindow | undefined> {
  const id = certificateId(new X509Certificate(certificatePem));
  if (id === undefined) return undefined;
  const info = await getJson(`${base.replace(/\/$/, '')}/${id}`, caFile);
  if (!('value' in info)) return undefined;
  const window = (info.value as { suggestedWindow?: { start?: unknown; end?: unknown } } | null)?.suggestedWindow;
  const start = typeof window?.start === 'string' ? Date.parse(window.start) : NaN;
  const end = typeof window?.end === 'string' ? Date.parse(window.end) : NaN;
  return Number.isFinite(start) && Number.isFinite(end) && end >= start ? { start, end } : undefined;
}

/**
 * The certificate's ARI identifier (RFC 9773 §4.1): base64url of its Authority Key
 * Identifier's keyIdentifier, a dot, base64url of its serial number's DER content octets.
 */
export function certificateId(x509: X509Certificate): string | undefined {
  const keyId = authorityKeyId(x509.raw);
  if (keyId === undefined) return undefined;
  let hex = x509.serialNumber;
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`; // a DER INTEGER is signed
  return `${keyId.toString('base64url')}.${Buffer.from(hex, 'hex').toString('base64url')}`;
}

/** id-ce-authorityKeyIdentifier (2.5.29.35) as DER: OBJECT IDENTIFIER, length 3, 55 1D 23. */
const AKI_OID = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x23]);

/**
 * The keyIdentifier of the Authority Key Identifier extension (RFC 5280 §4.2.1.1), read from
 * the certificate's DER: Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE,
 * extnValue OCTET STRING (SEQUENCE { [0] keyIdentifier, … }) }.
 */
function authorityKeyId(der: Buffer): Buffer | undefined {
  let at = der.indexOf(AKI_OID);
  if (at < 0) return undefined;
  at += AKI_OID.length;
  if (der[at] === 0x01) at = skip(der, at); // critical
  if (der[at] !== 0x04) return undefined; // extnValue
  const octets = header(der, at);
  if (der[octets.body] !== 0x30) return undefined; // AuthorityKeyIdentifier SEQUENCE
  const sequence = header(der, octets.body);
  if (der[sequence.body] !== 0x80) return undefined; // [0] keyIdentifier, IMPLICIT
  const keyId = header(der, sequence.body);
  return der.subarray(keyId.body, keyId.body + keyId.length);
}

/** A DER element's content offset and length (short or long form). */
function header(der: Buffer, at: number): { body: number; length: number } {
  const first = der[at + 1]!;
  if (first < 0x80) return { body: at + 2, length: first };
  const bytes = first & 0x7f;
  return { body: at + 2 + bytes, length: der.readUIntBE(at + 2, bytes) };
}

function skip(der: Buffer, at: number): number {
  const { body, length } = header(der, at);
  return body + length;
}
