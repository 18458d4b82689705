import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { constants } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { ProxyConfigError } from 'holdfast/internal/errors.js';
import type { CertificateConfig, ProxyConfig } from '../config/config.js';
import type { FileCertificateConfig } from '../config/http-config.js';
import type { StoredCertificate } from '../acme/acme-store.js';
import { HostSet } from '../http/http-router.js';

interface LoadedCertificate {
  readonly hosts: HostSet;
  readonly names: readonly string[];
  readonly context: SecureContext;
  readonly notAfter: string;
}

/** The certificates ACME holds now, by index in `certificates:` (acme-manager.ts). */
export interface AcmeSource {
  certificateFor(index: number): StoredCertificate | undefined;
}

/** What the admin API and the logs show of a certificate: never the key. */
export interface CertificateSummary {
  /** The file's path, or `acme:` and the certificate's first domain. */
  certFile: string;
  hosts: readonly string[];
  notAfter: string;
  default: boolean;
}

/**
 * The certificates of TLS-terminating routes, chosen by the client's SNI: the first whose
 * hosts (exact, or `*.` wildcard) match, else the default one (the one marked `default`, or
 * the first). `reload()` reads the files again: handshakes after it use the new certificates,
 * established connections keep theirs. A file that cannot be read or parsed keeps the
 * previous set and throws a ProxyConfigError naming the field. An `acme:` entry is served
 * once ACME holds its certificate (`acme`, set with `useAcme()`); until then it is skipped.
 */
export class CertificateStore {
  #configs: readonly CertificateConfig[];
  readonly #minVersion: 'TLSv1.2' | 'TLSv1.3';
  #loaded: (LoadedCertificate | undefined)[] = [];
  #default: LoadedCertificate | undefined;
  #acme: AcmeSource | undefined;

  constructor(configs: readonly CertificateConfig[], minVersion: 'TLSv1.2' | 'TLSv1.3') {
    this.#configs = configs;
    this.#minVersion = minVersion;
    this.reload();
  }

  /** Serves ACME's certificates from now on (and reloads). */
  useAcme(acme: AcmeSource | undefined): void {
    this.#acme = acme;
    this.reload();
  }

  /** Reads every certificate and key again (after a renewal), or with `configs`, a new set. */
  reload(configs: readonly CertificateConfig[] = this.#configs): void {
    const loaded = configs.map((config, i) => ('acme' in config ? this.#fromAcme(config.acme.domains, i) : load(config, i, this.#minVersion)));
    this.#configs = configs;
    this.#loaded = loaded;
    const marked = configs.findIndex((config) => config.default);
    this.#default = (marked >= 0 ? loaded[marked] : undefined) ?? loaded.find((certificate) => certificate !== undefined);
  }

  #fromAcme(domains: readonly string[], index: number): LoadedCertificate | undefined {
    const held = this.#acme?.certificateFor(index);
    if (held === undefined) return undefined;
    const x509 = new X509Certificate(held.cert);
    const context = createSecureContext({ cert: held.cert, key: held.key, minVersion: this.#minVersion, secureOptions: constants.SSL_OP_NO_RENEGOTIATION });
    return { hosts: new HostSet(domains), names: domains, context, notAfter: new Date(x509.validTo).toISOString() };
  }

  /** The files to watch for renewals. */
  get files(): string[] {
    return this.#configs.flatMap((config) => ('acme' in config ? [] : [config.certFile, config.keyFile]));
  }

  get defaultContext(): SecureContext | undefined {
    return this.#default?.context;
  }

  /** The context for a client's SNI (lower-cased by the caller or not: matching is case-insensitive). */
  select(serverName: string | undefined): SecureContext | undefined {
    if (serverName !== undefined) {
      const name = serverName.toLowerCase();
      for (const certificate of this.#loaded) if (certificate?.hosts.has(name) === true) return certificate.context;
    }
    return this.#default?.context;
  }

  /** For `TLSSocket`'s `SNICallback`. */
  readonly sniCallback = (serverName: string, callback: (err: Error | null, context?: SecureContext) => void): void => {
    callback(null, this.select(serverName));
  };

  summaries(): CertificateSummary[] {
    return this.#loaded.flatMap((certificate, i) => {
      if (certificate === undefined) return [];
      const config = this.#configs[i]!;
      return [{ certFile: 'acme' in config ? `acme:${config.acme.domains[0]!}` : config.certFile, hosts: certificate.names, notAfter: certificate.notAfter, default: certificate === this.#default }];
    });
  }
}

function load(config: FileCertificateConfig, index: number, minVersion: 'TLSv1.2' | 'TLSv1.3'): LoadedCertificate {
  const field = `certificates[${index}]`;
  const cert = readPem(config.certFile, `${field}.certFile`);
  const key = readPem(config.keyFile, `${field}.keyFile`);
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
  } catch (err) {
    throw new ProxyConfigError(config.certFile, `${field}.certFile`, `not a PEM certificate (${(err as Error).message})`);
  }
  let context: SecureContext;
  try {
    // Client-initiated renegotiation (TLS 1.2) is refused: each costs the proxy a handshake's CPU,
    // and Node's own limit (tls.CLIENT_RENEG_LIMIT) does not cover a TLSSocket built by hand.
    context = createSecureContext({ cert, key, minVersion, secureOptions: constants.SSL_OP_NO_RENEGOTIATION });
  } catch (err) {
    throw new ProxyConfigError(config.keyFile, `${field}.keyFile`, `the key does not fit the certificate or is not a PEM key (${(err as Error).message})`);
  }
  const names = config.hosts ?? namesOf(x509);
  return { hosts: new HostSet(names), names, context, notAfter: new Date(x509.validTo).toISOString() };
}

function readPem(file: string, field: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ProxyConfigError(file, field, code === 'ENOENT' ? 'no such file' : (err as Error).message);
  }
}

/** The certificate's DNS subjectAltNames, or its common name when it has none. */
function namesOf(x509: X509Certificate): string[] {
  const dns = (x509.subjectAltName ?? '').split(',').map((entry) => entry.trim()).filter((entry) => entry.startsWith('DNS:')).map((entry) => entry.slice(4).toLowerCase());
  if (dns.length > 0) return dns;
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject)?.[1];
  return cn === undefined ? [] : [cn.toLowerCase()];
}

/**
 * Reads every file a config names (certificates, keys, CAs) and throws the ProxyConfigError
 * of the first that cannot be used; returns the certificates' summaries. For `--check`.
 */
export function checkConfigFiles(config: ProxyConfig): CertificateSummary[] {
  const summaries = new CertificateStore(config.certificates, config.tls.minVersion).summaries();
  readUpstreamCas(config);
  return summaries;
}

/**
 * Each upstream's `tls.caFile`, the PEM CA certificates its targets must chain to, read
 * (undefined: none named); throws the ProxyConfigError of the first that cannot be read.
 */
export function readUpstreamCas(config: ProxyConfig): (Buffer | undefined)[] {
  return config.upstreams.map((upstream, i) => (upstream.tls?.caFile === undefined ? undefined : readPem(upstream.tls.caFile, `upstreams[${i}].tls.caFile`)));
}
