import { createHash } from 'node:crypto';
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** A certificate chain and its private key, PEM. */
export interface StoredCertificate {
  cert: string;
  key: string;
}

/** What a challenge answer is for: an HTTP-01 token, or a TLS-ALPN-01 domain. */
export type ChallengeKind = 'http-01' | 'tls-alpn-01';

/**
 * Where ACME state lives. The file store serves one instance; the Redis store lets several
 * share one account, one certificate per name, one order at a time and every challenge answer.
 */
export interface AcmeStore {
  /** Instances that share this store see each other's certificates (Redis), or none do (files). */
  readonly shared: boolean;
  accountKey(directory: string): Promise<string | undefined>;
  saveAccountKey(directory: string, pem: string): Promise<void>;
  certificate(name: string): Promise<StoredCertificate | undefined>;
  /** Saves a certificate and tells every instance sharing the store (`onChange`). */
  saveCertificate(name: string, certificate: StoredCertificate): Promise<void>;
  putChallenge(kind: ChallengeKind, key: string, value: string, ttlMs: number): Promise<void>;
  challenge(kind: ChallengeKind, key: string): Promise<string | undefined>;
  dropChallenge(kind: ChallengeKind, key: string): Promise<void>;
  /** Runs `fn` while holding `name` across every instance; `busy` when another holds it now. */
  exclusive<T>(name: string, fn: () => Promise<T>): Promise<T | 'busy'>;
  /** Called with a certificate's name when any instance saved it. */
  onChange(listener: (name: string) => void): void;
  close(): Promise<void>;
}

/** A file name for a directory URL or a certificate name: no path characters ever reach the disk. */
export function storeKey(text: string): string {
  const readable = text.replace(/[^a-z0-9.-]/gi, '_').slice(0, 80);
  return `${readable}-${createHash('sha256').update(text).digest('hex').slice(0, 12)}`;
}

/**
 * Account keys and certificates as files under `dir` (mode 0700), each written whole to a
 * temporary file and renamed (a crash leaves the old file or the new one, never half of one),
 * mode 0600. Challenge answers live in memory: this instance answers its own.
 */
export class FileAcmeStore implements AcmeStore {
  readonly shared = false;
  readonly #dir: string;
  readonly #challenges = new Map<string, string>();
  readonly #locks = new Set<string>();
  readonly #listeners: ((name: string) => void)[] = [];

  constructor(dir: string) {
    this.#dir = dir;
  }

  accountKey(directory: string): Promise<string | undefined> {
    return this.#read(join('accounts', `${storeKey(directory)}.key`));
  }

  saveAccountKey(directory: string, pem: string): Promise<void> {
    return this.#write(join('accounts', `${storeKey(directory)}.key`), pem);
  }

  async certificate(name: string): Promise<StoredCertificate | undefined> {
    const base = join('certificates', storeKey(name));
    const [cert, key] = await Promise.all([this.#read(`${base}.crt`), this.#read(`${base}.key`)]);
    return cert === undefined || key === undefined ? undefined : { cert, key };
  }

  async saveCertificate(name: string, certificate: StoredCertificate): Promise<void> {
    const base = join('certificates', storeKey(name));
    // The key first: a crash between the two leaves the old certificate with a key it does not
    // fit, which loading refuses (the old pair is then still served from memory).
    await this.#write(`${base}.key`, certificate.key);
    await this.#write(`${base}.crt`, certificate.cert);
    for (const listener of this.#listeners) listener(name);
  }

  putChallenge(kind: ChallengeKind, key: string, value: string): Promise<void> {
    this.#challenges.set(`${kind}:${key}`, value);
    return Promise.resolve();
  }

  challenge(kind: ChallengeKind, key: string): Promise<string | undefined> {
    return Promise.resolve(this.#challenges.get(`${kind}:${key}`));
  }

  dropChallenge(kind: ChallengeKind, key: string): Promise<void> {
    this.#challenges.delete(`${kind}:${key}`);
    return Promise.resolve();
  }

  async exclusive<T>(name: string, fn: () => Promise<T>): Promise<T | 'busy'> {
    if (this.#locks.has(name)) return 'busy';
    this.#locks.add(name);
    try {
      return await fn();
    } finally {
      this.#locks.delete(name);
    }
  }

  onChange(listener: (name: string) => void): void {
    this.#listeners.push(listener);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }

  async #read(file: string): Promise<string | undefined> {
    try {
      return await readFile(join(this.#dir, file), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async #write(file: string, text: string): Promise<void> {
    const path = join(this.#dir, file);
    await mkdir(join(path, '..'), { recursive: true, mode: 0o700 });
    // A directory made elsewhere (by a package, with other modes) is tightened when it can be;
    // the files themselves are 0600 whatever the directory.
    await chmod(this.#dir, 0o700).catch(() => {});
    const temporary = `${path}.${process.pid}.tmp`;
    await writeFile(temporary, text, { mode: 0o600 });
    await rename(temporary, path);
  }
}
