import { EventEmitter } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Clock } from 'holdfast/internal/clock.js';
import { ProxyConfigError } from 'holdfast/internal/errors.js';
import type { AcmeCertificateConfig, AcmeOrderConfig, AcmeSettings } from '../config/acme-config.js';
import type { AcmeStore, StoredCertificate } from './acme-store.js';
import { orderCertificate, probeDirectory } from './acme-order.js';
import { renewalWindow } from './renewal-info.js';

/** A challenge answer outlives its order by far: the CA validates within seconds of being told. */
const CHALLENGE_TTL_MS = 10 * 60_000;

interface Entry {
  /** The first domain: the certificate's name in the store, the logs and the metrics. */
  readonly name: string;
  readonly index: number;
  readonly order: AcmeOrderConfig;
  current: Held | undefined;
  failures: number;
  /** Wall-clock ms before which no new order is placed (backoff after a failure). */
  retryAt: number;
  /** The CA's last suggested window (ARI) and the moment chosen in it, once per window. */
  ari: { start: number; end: number; at: number } | undefined;
}

interface Held extends StoredCertificate {
  readonly notBefore: number;
  readonly notAfter: number;
}

/** The proxy's ACME manager, whichever is current (a reload can replace it): challenges are answered from it. */
export interface AcmeRef {
  current: AcmeManager | undefined;
}

export interface AcmeEvents {
  /** This instance obtained a certificate (`renewal`: one was held before). */
  issued: [{ name: string; notAfter: string; renewal: boolean }];
  /** A certificate another instance (or an earlier run) saved is now served. */
  loaded: [{ name: string; notAfter: string }];
  /** An order failed: the held certificate, if any, goes on serving. */
  failed: [{ name: string; error: Error; retryInMs: number }];
}

/**
 * Certificates that obtain and renew themselves (RFC 8555), for the `acme:` entries of
 * `certificates:`.
 *
 *   start ─▶ load stored ─▶ check ─▶ due? ─▶ lock (one instance) ─▶ order ─▶ save ─▶ every instance loads it
 *              every checkMs ──┘        └── failed: backoff with jitter, the held certificate keeps serving
 *
 * A certificate is due at two thirds of its lifetime (Let's Encrypt's advice, and Caddy's
 * default), when the CA's renewal window says so (ARI, RFC 9773), or when none is held. HTTP-01 and TLS-ALPN-01 answers go to the store, so that
 * any instance sharing it answers the CA.
 */
export class AcmeManager extends EventEmitter<AcmeEvents> {
  readonly #entries: Entry[];
  readonly #store: AcmeStore;
  readonly #settings: AcmeSettings;
  readonly #clock: Clock;
  readonly #random: () => number;
  /** Directories read successfully, by URL: read once per manager, as acme-client reads its own. */
  readonly #directories = new Map<string, { renewalInfo: string | undefined }>();
  #cancelTimer: (() => void) | undefined;
  #checking: Promise<void> | undefined;
  #closed = false;

  constructor(configs: readonly { config: AcmeCertificateConfig; index: number }[], store: AcmeStore, settings: AcmeSettings, { clock, random = Math.random }: { clock: Clock; random?: () => number }) {
    super();
    this.#entries = configs.map(({ config, index }) => ({ name: config.acme.domains[0]!, index, order: config.acme, current: undefined, failures: 0, retryAt: 0, ari: undefined }));
    this.#store = store;
    this.#settings = settings;
    this.#clock = clock;
    this.#random = random;
    store.onChange((name) => void this.#adopt(name).catch(() => {}));
  }

  /**
   * Loads what the store holds, and checks that each directory answers: an entry with no
   * certificate yet and a directory that cannot be reached is a config error naming the field.
   * Orders start with `start()`, once the listeners that answer challenges are up.
   */
  async load(): Promise<void> {
    for (const entry of this.#entries) await this.#adopt(entry.name);
    const directories = new Map<string, Entry>();
    for (const entry of this.#entries) if (!directories.has(entry.order.directory)) directories.set(entry.order.directory, entry);
    for (const [directory, entry] of directories) {
      const probe = await this.#directory(directory);
      if (!('error' in probe)) continue;
      const { error } = probe;
      const blocked = this.#entries.filter((e) => e.order.directory === directory && e.current === undefined);
      if (blocked.length > 0) throw new ProxyConfigError('config', `certificates[${blocked[0]!.index}].acme.directory`, `the ACME directory ${directory} cannot be reached (${error})`);
      this.emit('failed', { name: entry.name, error: new Error(`the ACME directory ${directory} cannot be reached (${error})`), retryInMs: this.#settings.checkMs });
    }
  }

  /** Checks now, then every `checkMs`. */
  start(): void {
    void this.check();
  }

  /** The certificate an entry is served with now. */
  certificateFor(index: number): StoredCertificate | undefined {
    return this.#entries.find((entry) => entry.index === index)?.current;
  }

  /** Every certificate held: name, index and expiry (metrics, admin). */
  held(): { name: string; index: number; notAfter: number }[] {
    return this.#entries.flatMap((entry) => (entry.current === undefined ? [] : [{ name: entry.name, index: entry.index, notAfter: entry.current.notAfter }]));
  }

  /** The key authorization for an HTTP-01 token, from whichever instance placed the order. */
  httpChallenge(token: string): Promise<string | undefined> {
    return this.#store.challenge('http-01', token);
  }

  /** The self-signed TLS-ALPN-01 certificate (RFC 8737) for a domain being validated now. */
  async tlsAlpnContext(domain: string): Promise<SecureContext | undefined> {
    const pair = await this.#store.challenge('tls-alpn-01', domain.toLowerCase());
    if (pair === undefined) return undefined;
    const { cert, key } = JSON.parse(pair) as StoredCertificate;
    return createSecureContext({ cert, key });
  }

  /**
   * Orders what is due (`now`: wall-clock ms): one pass at a time; the next is scheduled
   * `checkMs` later, or sooner when a backoff ends first.
   */
  check(now = this.#clock.wallNow()): Promise<void> {
    this.#checking ??= this.#checkOnce(now).finally(() => {
      this.#checking = undefined;
      this.#schedule();
    });
    return this.#checking;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#cancelTimer?.();
    await this.#checking?.catch(() => {});
    await this.#store.close();
  }

  async #checkOnce(now: number): Promise<void> {
    for (const entry of this.#entries) {
      if (this.#closed) return;
      if (now < entry.retryAt) continue;
      if (isDue(entry.current, now) || await this.#ariSaysRenew(entry, now)) await this.#obtain(entry, now);
    }
  }

  /**
   * Whether the CA's renewal window (ARI, RFC 9773) has come for the held certificate: a
   * moment picked at random in the window, once per window (§4.2), so that the CA's
   * subscribers do not all renew at its start.
   */
  /** A directory as read once (at load, or at the first check after a failed read): its renewalInfo resource. */
  async #directory(url: string): Promise<{ error: string } | { renewalInfo: string | undefined }> {
    const known = this.#directories.get(url);
    if (known !== undefined) return known;
    const probe = await probeDirectory(url, this.#settings.directoryCaFile);
    if (!('error' in probe)) this.#directories.set(url, probe);
    return probe;
  }

  async #ariSaysRenew(entry: Entry, now: number): Promise<boolean> {
    const held = entry.current;
    if (held === undefined) return false;
    const probe = await this.#directory(entry.order.directory);
    if ('error' in probe || probe.renewalInfo === undefined) return false;
    const window = await renewalWindow(probe.renewalInfo, this.#settings.directoryCaFile, held.cert);
    if (window === undefined) return false;
    if (entry.ari?.start !== window.start || entry.ari.end !== window.end) {
      entry.ari = { ...window, at: window.start + this.#random() * (window.end - window.start) };
    }
    return now >= entry.ari.at;
  }

  async #obtain(entry: Entry, now: number): Promise<void> {
    const renewal = entry.current !== undefined;
    const looked = entry.current?.cert;
    try {
      const outcome = await this.#store.exclusive(entry.name, async () => {
        // Another instance may have renewed it since this one looked.
        await this.#adopt(entry.name);
        if (entry.current !== undefined && entry.current.cert !== looked) return 'fresh' as const;
        const pem = await orderCertificate(entry.order, this.#store, this.#settings, CHALLENGE_TTL_MS);
        this.#hold(entry, pem); // before the save, whose change notice then finds it held
        await this.#store.saveCertificate(entry.name, pem);
        return 'ordered' as const;
      });
      if (outcome === 'ordered') this.emit('issued', { name: entry.name, notAfter: new Date(entry.current!.notAfter).toISOString(), renewal });
      entry.failures = 0;
      entry.retryAt = 0;
    } catch (err) {
      entry.failures++;
      const ceiling = Math.min(this.#settings.retryMaxMs, this.#settings.retryMinMs * 2 ** (entry.failures - 1));
      const retryInMs = Math.round(ceiling / 2 + (this.#random() * ceiling) / 2); // equal jitter: never sooner than half
      entry.retryAt = now + retryInMs;
      this.emit('failed', { name: entry.name, error: err as Error, retryInMs });
    }
  }

  /** Serves what the store holds for `name`, when it is newer than what is served. */
  async #adopt(name: string): Promise<void> {
    const entry = this.#entries.find((e) => e.name === name);
    if (entry === undefined) return;
    const stored = await this.#store.certificate(name);
    if (stored === undefined || stored.cert === entry.current?.cert) return;
    this.#hold(entry, stored);
    this.emit('loaded', { name, notAfter: new Date(entry.current!.notAfter).toISOString() });
  }

  #hold(entry: Entry, pem: StoredCertificate): void {
    const x509 = new X509Certificate(pem.cert);
    entry.current = { ...pem, notBefore: Date.parse(x509.validFrom), notAfter: Date.parse(x509.validTo) };
  }

  #schedule(): void {
    this.#cancelTimer?.();
    if (this.#closed) return;
    const now = this.#clock.wallNow();
    const nextRetry = Math.min(...this.#entries.map((entry) => (entry.retryAt > now ? entry.retryAt - now : Infinity)));
    this.#cancelTimer = this.#clock.schedule(() => void this.check(), Math.min(this.#settings.checkMs, nextRetry));
  }
}

/** None held, or two thirds of its lifetime gone. */
export function isDue(held: { notBefore: number; notAfter: number } | undefined, now: number): boolean {
  if (held === undefined) return true;
  return now >= held.notBefore + ((held.notAfter - held.notBefore) * 2) / 3;
}
